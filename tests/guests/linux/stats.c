/* stats: the demo's stock-toolchain program. Reads numbers from a file the
 * job declares, sorts them (malloc, qsort), computes floating-point
 * statistics (libm) and writes a report file, which comes back with the
 * job's result. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *in = argc > 1 ? argv[1] : "/data/samples.txt";
    const char *out = argc > 2 ? argv[2] : "/out/report.txt";
    FILE *f = fopen(in, "r");
    if (!f) {
        fprintf(stderr, "stats: %s: %s\n", in, strerror(errno));
        return 2;
    }
    size_t n = 0, cap = 16;
    double *v = malloc(cap * sizeof *v), x;
    while (fscanf(f, "%lf", &x) == 1) {
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = x;
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "stats: no numbers in %s\n", in);
        return 3;
    }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / n;
    for (size_t i = 0; i < n; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    double sd = sqrt(sq / n);
    qsort(v, n, sizeof *v, cmp);
    double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    double geo = 0;
    for (size_t i = 0; i < n; i++)
        geo += log(fabs(v[i]) + 1);
    geo = exp(geo / n) - 1;
    printf("%zu samples: mean %.6f, sd %.6f, median %.6f, min %g, max %g\n", n, mean, sd, median,
           v[0], v[n - 1]);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        mkdir(dir, 0755);       /* may exist already */
    }
    FILE *r = fopen(out, "w");
    if (!r) {
        fprintf(stderr, "stats: %s: %s\n", out, strerror(errno));
        return 4;
    }
    fprintf(r, "samples  %zu\nmean     %.9e\nsd       %.9e\nmedian   %.9e\ngeo-ish  %.9e\n", n, mean,
            sd, median, geo);
    fprintf(r, "deciles ");
    for (int d = 1; d < 10; d++)
        fprintf(r, " %.4f", v[n * d / 10]);
    fprintf(r, "\n");
    fclose(r);
    printf("report written to %s\n", out);
    free(v);
    return 0;
}
