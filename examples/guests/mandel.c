/* Renders rows [first, last) of a width x height view of the Mandelbrot set
 * into /out/rows.pgm-part (one byte per pixel: the escape time, scaled), and
 * prints a checksum of them. Double-precision arithmetic throughout: the
 * bytes must be the same however the job was sliced, moved or resumed.
 *
 * usage: mandel WIDTH HEIGHT MAX_ITER FIRST_ROW LAST_ROW
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int escape_time(double cr, double ci, int max_iter)
{
    double zr = 0.0, zi = 0.0;
    for (int i = 0; i < max_iter; i++) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0)
            return i;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    return max_iter;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT MAX_ITER FIRST_ROW LAST_ROW\n", argv[0]);
        return 2;
    }
    int width = atoi(argv[1]), height = atoi(argv[2]), max_iter = atoi(argv[3]);
    int first = atoi(argv[4]), last = atoi(argv[5]);
    if (width <= 0 || height <= 0 || max_iter <= 0 || first < 0 || last > height || first >= last) {
        fprintf(stderr, "mandel: bad size or rows\n");
        return 2;
    }
    size_t n = (size_t)width * (size_t)(last - first);
    unsigned char *pixels = malloc(n);
    if (!pixels) {
        perror("mandel: malloc");
        return 1;
    }
    unsigned long long sum = 1469598103934665603ULL;     /* FNV-1a over the pixels */
    for (int y = first; y < last; y++) {
        double ci = -1.25 + 2.5 * y / height;
        for (int x = 0; x < width; x++) {
            double cr = -2.2 + 3.2 * x / width;
            int t = escape_time(cr, ci, max_iter);
            /* bands of 64 escape times, so that the structure shows */
            unsigned char v = (unsigned char)(t == max_iter ? 0 : 255 - (t % 64) * 4);
            pixels[(size_t)(y - first) * width + x] = v;
            sum = (sum ^ v) * 1099511628211ULL;
        }
    }
    if (mkdir("/out", 0755) != 0 && errno != EEXIST) {
        perror("mandel: mkdir /out");
        return 1;
    }
    FILE *f = fopen("/out/rows.pgm-part", "wb");
    if (!f || fwrite(pixels, 1, n, f) != n || fclose(f) != 0) {
        perror("mandel: /out/rows.pgm-part");
        return 1;
    }
    printf("rows %d-%d of %dx%d, %d iterations: checksum %016llx\n",
           first, last, width, height, max_iter, sum);
    free(pixels);
    return 0;
}
