/* wild: system calls given bad pointers and bad arguments get errors, as
 * on Linux, and the program carries on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long rc)
{
    printf("%-34s %ld %s\n", what, rc, rc < 0 ? strerror(errno) : "");
    errno = 0;
}

int main(void)
{
    char *wild = (char *)0x7fff12340000UL;
    char *volatile null = NULL;
    show("read(0, wild, 16)", read(0, wild, 16));
    show("write(1, wild, 16)", write(1, wild, 16));
    show("write(1, NULL, 4)", write(1, null, 4));
    show("read(0, main, 4) [code]", read(0, (void *)main, 4));
    show("write(99, buf, 1) [bad fd]", write(99, "x", 1));
    struct iovec iov[2] = {{"ok ", 3}, {wild, 4}};
    show("writev(1, [ok, wild])", writev(1, iov, 2));
    show("writev(1, wild, 2)", writev(1, (struct iovec *)wild, 2));
    show("open(wild)", open(wild, O_RDONLY));
    show("clock_gettime(MONOTONIC, wild)", clock_gettime(CLOCK_MONOTONIC, (struct timespec *)wild));
    show("nanosleep({0, 2e9})", nanosleep(&(struct timespec){0, 2000000000}, NULL));
    show("mmap(len 0)", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    show("mmap(no MAP_PRIVATE/SHARED)", (long)mmap(NULL, 4096, PROT_READ, MAP_ANONYMOUS, -1, 0));
    show("munmap(unaligned)", munmap((void *)4097, 4096));
    show("lseek(1, 0, SEEK_SET) [pipe]", lseek(1, 0, SEEK_SET));
    show("close(77)", close(77));
    char path[5000];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = 0;
    show("open(5000-byte path)", open(path, O_RDONLY));
    printf("still running\n");
    return 0;
}
