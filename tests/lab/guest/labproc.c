/*
 * labproc.c - guest-side helper for lab tests (static, in the guest's
 * /usr/bin): a process with a chosen name, chosen open files and children,
 * that stays put so introspection and the agent have something known to find.
 *
 *   labproc [-n COMM] [-o FILE]... [-c CHILDREN] [-d]
 *
 * -d detaches: the parent prints the holder's pid and exits at once.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define LABPROC_FILES_MAX 64
#define LABPROC_CHILDREN_MAX 256

static void usage(void)
{
	fprintf(stderr, "usage: labproc [-n COMM] [-o FILE]... [-c CHILDREN] [-d]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *comm = NULL, *files[LABPROC_FILES_MAX];
	int nfiles = 0, children = 0, detach = 0, opt, i;

	while ((opt = getopt(argc, argv, "n:o:c:d")) != -1) {
		switch (opt) {
		case 'n': comm = optarg; break;
		case 'o':
			if (nfiles == LABPROC_FILES_MAX)
				usage();
			files[nfiles++] = optarg;
			break;
		case 'c': children = atoi(optarg); break;
		case 'd': detach = 1; break;
		default: usage();
		}
	}
	if (children < 0 || children > LABPROC_CHILDREN_MAX)
		usage();
	if (detach) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid > 0) {
			printf("%d\n", (int)pid);
			return 0;
		}
		setsid();
		freopen("/dev/null", "r", stdin);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
	}
	if (comm)
		prctl(PR_SET_NAME, comm, 0, 0, 0);
	for (i = 0; i < nfiles; i++)
		if (open(files[i], O_RDWR | O_CREAT, 0644) < 0)
			perror(files[i]);
	for (i = 0; i < children; i++)
		if (fork() == 0)
			break;
	for (;;)
		pause();
}
