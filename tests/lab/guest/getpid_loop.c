/*
 * getpid_loop.c - lab guest helper: call the getpid system call directly
 * (libc may cache getpid()) COUNT times, sleeping USEC microseconds between
 * calls, then print "getpid_loop done COUNT". Lab tests set a breakpoint on
 * the kernel's __x64_sys_getpid and run this to hit it.
 *
 *   getpid_loop [COUNT (1)] [USEC (0)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	long usec = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	long pid = 0;

	if (count < 0 || count > 1000000 || usec < 0 || usec > 10000000) {
		fprintf(stderr, "usage: getpid_loop [COUNT] [USEC]\n");
		return 2;
	}
	for (long i = 0; i < count; i++) {
		pid = syscall(SYS_getpid);
		if (usec)
			usleep((useconds_t)usec);
	}
	printf("getpid_loop done %ld pid %ld\n", count, pid);
	return 0;
}
