/* stamp FILE JOB: the process every scheduler under test starts.
 *
 * It reads CLOCK_REALTIME first thing, so the recorded instant is the process start as
 * the kernel and the dynamic loader let it happen, and appends one line
 *     JOB SECONDS.NANOS NOMINAL PID
 * to FILE with a single O_APPEND write (atomic for lines this short, so concurrent
 * stamps never interleave). NOMINAL is $CRONFLOW_NOMINAL_TIME when the scheduler sets
 * it, else "-". The same binary is used for cronflow and both peers.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (argc < 3) {
        fputs("usage: stamp FILE JOB\n", stderr);
        return 2;
    }
    const char *nominal = getenv("CRONFLOW_NOMINAL_TIME");
    if (nominal == NULL || *nominal == '\0') nominal = "-";
    char line[512];
    int n = snprintf(line, sizeof line, "%s %lld.%09ld %s %d\n", argv[2],
                     (long long)ts.tv_sec, ts.tv_nsec, nominal, (int)getpid());
    if (n <= 0 || n >= (int)sizeof line) return 1;
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return 1;
    if (write(fd, line, (size_t)n) != n) return 1;
    return close(fd) == 0 ? 0 : 1;
}
