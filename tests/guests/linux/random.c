/* random: getrandom(2), /dev/urandom and the stack protector's canary all
 * hand out bytes; prints only facts that hold for any bytes. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int main(void)
{
    unsigned char a[64], b[64], c[32];
    ssize_t na = getrandom(a, sizeof a, 0);
    ssize_t nb = getrandom(b, sizeof b, GRND_NONBLOCK);
    printf("getrandom: %zd and %zd bytes, different: %s\n", na, nb, memcmp(a, b, 64) ? "yes" : "no");
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t nc = read(fd, c, sizeof c);
    close(fd);
    printf("/dev/urandom: %zd bytes\n", nc);
    int distinct = 0;
    for (int v = 0; v < 256; v++)
        distinct += memchr(a, v, 64) || memchr(b, v, 64);
    printf("many distinct values: %s\n", distinct > 60 ? "yes" : "no");
    printf("getrandom(bad flags): %zd\n", getrandom(a, 8, 0x40));
    fd = open("/dev/null", O_WRONLY);
    printf("write to /dev/null: %zd\n", write(fd, a, 64));
    close(fd);
    return 0;
}
