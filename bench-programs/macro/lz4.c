// lz4 (from lz4-sys): the fast and the high-compression coders on 64 KiB blocks of generated
// text, one block per outer iteration.
#include "data.h"
#include <lz4.h>
#include <lz4hc.h>

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    static char in[DATA_BLOCK], back[DATA_BLOCK], out[LZ4_COMPRESSBOUND(DATA_BLOCK)];
    uint64_t sum = 0;
    for (int block = 0; block < size * 16; block++) {
        pause();
        data_fill((unsigned char *)in, sizeof in);
        int clen = block % 2 ? LZ4_compress_HC(in, out, sizeof in, sizeof out, 1 + block % 12)
                             : LZ4_compress_default(in, out, sizeof in, sizeof out);
        if (clen <= 0) return 1;
        int dlen = LZ4_decompress_safe(out, back, clen, sizeof back);
        if (dlen < 0) return 1;
        data_check("lz4", (unsigned char *)in, (unsigned char *)back, sizeof in, (size_t)dlen);
        sum = data_fold(sum, (unsigned char *)out, (size_t)clen);
    }
    bench_checksum(sum);
    return 0;
}
