/* stdin: counts lines, words and bytes of stdin and echoes it in capitals,
 * reading with both stdio and read(2). */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char first[64];
    ssize_t n = read(0, first, 10);
    long lines = 0, words = 0, bytes = n > 0 ? n : 0;
    int in_word = 0;
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)first[i];
        lines += c == '\n';
        if (isspace(c))
            in_word = 0;
        else if (!in_word)
            in_word = 1, words++;
        putchar(toupper(c));
    }
    int c;
    while ((c = getchar()) != EOF) {
        bytes++;
        lines += c == '\n';
        if (isspace(c))
            in_word = 0;
        else if (!in_word)
            in_word = 1, words++;
        putchar(toupper(c));
    }
    printf("\n%ld lines, %ld words, %ld bytes\n", lines, words, bytes);
    return lines > 255 ? 255 : (int)lines;
}
