// zstd (from zstd-sys): compress and decompress 64 KiB blocks of generated text at several
// levels, one block per outer iteration.
#include "data.h"
#include <zstd.h>

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    static unsigned char in[DATA_BLOCK], back[DATA_BLOCK], out[DATA_BLOCK + DATA_BLOCK / 8 + 512];
    uint64_t sum = 0;
    for (int block = 0; block < size * 8; block++) {
        pause();
        data_fill(in, sizeof in);
        size_t clen = ZSTD_compress(out, sizeof out, in, sizeof in, 1 + block % 9);
        if (ZSTD_isError(clen)) return 1;
        size_t dlen = ZSTD_decompress(back, sizeof back, out, clen);
        if (ZSTD_isError(dlen)) return 1;
        data_check("zstd", in, back, sizeof in, dlen);
        sum = data_fold(sum, out, clen);
    }
    bench_checksum(sum);
    return 0;
}
