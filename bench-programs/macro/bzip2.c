// bzip2 (from bzip2-sys): compress and decompress 64 KiB blocks of generated text, one block
// per outer iteration.
#include "data.h"
#include <bzlib.h>

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    static char in[DATA_BLOCK], back[DATA_BLOCK], out[DATA_BLOCK + DATA_BLOCK / 100 + 600];
    uint64_t sum = 0;
    for (int block = 0; block < size * 4; block++) {
        pause();
        data_fill((unsigned char *)in, sizeof in);
        unsigned clen = sizeof out, dlen = sizeof back;
        if (BZ2_bzBuffToBuffCompress(out, &clen, in, sizeof in, 1 + block % 9, 0, 30) != BZ_OK)
            return 1;
        if (BZ2_bzBuffToBuffDecompress(back, &dlen, out, clen, 0, 0) != BZ_OK) return 1;
        data_check("bzip2", (unsigned char *)in, (unsigned char *)back, sizeof in, dlen);
        sum = data_fold(sum, (unsigned char *)out, clen);
    }
    bench_checksum(sum);
    return 0;
}
