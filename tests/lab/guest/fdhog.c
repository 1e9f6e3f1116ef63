/*
 * fdhog.c - guest helper for the upcall lab test: a process holding many
 * open files, so the agent's "all open files" answer needs several frames.
 *
 *   fdhog N    open N files (/dev/null and a few named ones), detach, and
 *              print "fdhog PID N"; the child sleeps until killed.
 *
 * Built static (tests/lab/guest/), it needs nothing from the guest.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rlimit rl;
	int n = argc > 1 ? atoi(argv[1]) : 0, opened = 0, null;
	pid_t pid;

	if (n <= 0 || n > 100000) {
		fprintf(stderr, "usage: fdhog N (1..100000)\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
		rl.rlim_cur = (rlim_t)n + 16 < rl.rlim_max ? (rlim_t)n + 16
							   : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < n; i++) {
		if (open(i % 2 ? "/dev/null" : "/proc/self/stat", O_RDONLY) < 0)
			break;
		opened++;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0) {
		printf("fdhog %d %d\n", (int)pid, opened);
		return 0;
	}
	setsid();
	null = open("/dev/null", O_RDWR);	/* let go of the caller's tty */
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	for (;;)
		pause();
}
