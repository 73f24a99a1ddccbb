// zlib (from libz-sys): deflate and inflate 64 KiB blocks of generated text, one block per
// outer iteration.
#include "data.h"
#include <zlib.h>

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    static unsigned char in[DATA_BLOCK], back[DATA_BLOCK], out[DATA_BLOCK + DATA_BLOCK / 8 + 64];
    uint64_t sum = 0;
    for (int block = 0; block < size * 8; block++) {
        pause();
        data_fill(in, sizeof in);
        uLongf clen = sizeof out, dlen = sizeof back;
        if (compress2(out, &clen, in, sizeof in, 6 + block % 4) != Z_OK) return 1;
        if (uncompress(back, &dlen, out, clen) != Z_OK) return 1;
        data_check("zlib", in, back, sizeof in, dlen);
        sum = data_fold(sum, out, clen);
    }
    bench_checksum(sum);
    return 0;
}
