/* Counts lines, words and bytes of each file named on the command line (the
 * job's declared files), and lists the TOP most frequent words of them all
 * (TOP from the environment, 5 by default) in /out/top.txt.
 *
 * usage: wordcount FILE...
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct word { char *text; long count; };

static struct word *words;
static size_t nwords, capwords;

static void count_word(const char *w)
{
    for (size_t i = 0; i < nwords; i++)
        if (strcmp(words[i].text, w) == 0) {
            words[i].count++;
            return;
        }
    if (nwords == capwords) {
        capwords = capwords ? 2 * capwords : 64;
        words = realloc(words, capwords * sizeof *words);
        if (!words) {
            perror("wordcount: realloc");
            exit(1);
        }
    }
    words[nwords].text = strdup(w);
    words[nwords++].count = 1;
}

static int by_count(const void *a, const void *b)
{
    const struct word *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->text, y->text);
}

int main(int argc, char **argv)
{
    const char *top_env = getenv("TOP");
    int top = top_env ? atoi(top_env) : 5;
    long total_words = 0;
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "r");
        if (!f) {
            fprintf(stderr, "wordcount: %s: %s\n", argv[a], strerror(errno));
            return 1;
        }
        long lines = 0, nw = 0, bytes = 0;
        char w[64];
        size_t len = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
            bytes++;
            if (c == '\n')
                lines++;
            if (isalpha(c) || c == '\'') {
                if (len < sizeof w - 1)
                    w[len++] = (char)tolower(c);
            } else if (len) {
                w[len] = 0;
                count_word(w);
                nw++;
                len = 0;
            }
        }
        if (len) {
            w[len] = 0;
            count_word(w);
            nw++;
        }
        fclose(f);
        printf("%7ld %7ld %7ld %s\n", lines, nw, bytes, argv[a]);
        total_words += nw;
    }
    qsort(words, nwords, sizeof *words, by_count);
    if (mkdir("/out", 0755) != 0 && errno != EEXIST) {
        perror("wordcount: mkdir /out");
        return 1;
    }
    FILE *out = fopen("/out/top.txt", "w");
    if (!out) {
        perror("wordcount: /out/top.txt");
        return 1;
    }
    for (size_t i = 0; i < nwords && (int)i < top; i++)
        fprintf(out, "%ld %s\n", words[i].count, words[i].text);
    fclose(out);
    printf("%ld words, %zu distinct\n", total_words, nwords);
    return 0;
}
