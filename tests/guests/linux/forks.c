/* forks: a program that starts another process. rvdist runs one process
 * per job: the clone under fork() ends the run with a typed error. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    printf("before fork\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child\n");
        return 0;
    }
    waitpid(pid, NULL, 0);
    printf("parent\n");
    return 0;
}
