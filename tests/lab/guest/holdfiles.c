/*
 * holdfiles.c - a guest helper for the open-files lab test: it opens one
 * file of every kind the introspection layer names (regular files at
 * several depths and across mounts, a directory, a device, a TCP and a
 * UNIX socket, a pipe, an eventfd, an epoll and a timerfd, a file
 * deleted while open, a memfd), prints
 * "holdfiles ready PID", then sleeps until killed so the host can compare
 * what guest memory says with `readlink /proc/PID/fd/N`.
 *
 * Usage: holdfiles DIR [EXTRA-FILE...]   (DIR is created if missing)
 * Built static, it needs nothing from the guest but a kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

static void warn_fail(const char *what, const char *arg)
{
	fprintf(stderr, "holdfiles: %s %s: %s\n", what, arg ? arg : "",
		strerror(errno));
}

static void open_path(const char *path, int flags)
{
	if (open(path, flags | O_CLOEXEC, 0644) < 0)
		warn_fail("open", path);
}

/* DIR/a/b/c/.../file: a chain of directories some levels deep. */
static void open_deep(const char *dir)
{
	char path[1024];
	size_t len = (size_t)snprintf(path, sizeof(path), "%s", dir);

	for (int i = 0; i < 12 && len + 32 < sizeof(path); i++) {
		len += (size_t)snprintf(path + len, sizeof(path) - len,
					"/level%02d", i);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			warn_fail("mkdir", path);
	}
	snprintf(path + len, sizeof(path) - len, "/%s",
		 "a-rather-long-file-name-that-does-not-fit-the-inline-dentry-name");
	open_path(path, O_RDWR | O_CREAT);
}

static void open_sockets(const char *dir)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s;

	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&in, sizeof(in)) < 0)
		warn_fail("tcp", NULL);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/sock", dir);
	unlink(un.sun_path);
	if (s < 0 || bind(s, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    listen(s, 1) < 0)
		warn_fail("unix", un.sun_path);
}

/* Files readlink shows with " (deleted)": unlinked, and a memfd. */
static void open_deleted(const char *dir)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/deleted.txt", dir);
	if (open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) < 0 || unlink(path) < 0)
		warn_fail("deleted", path);
	if (memfd_create("holdfiles", MFD_CLOEXEC) < 0)
		warn_fail("memfd", NULL);
}

static void open_anon(void)
{
	int p[2];

	if (pipe(p) < 0)
		warn_fail("pipe", NULL);
	if (eventfd(0, EFD_CLOEXEC) < 0)
		warn_fail("eventfd", NULL);
	if (epoll_create1(EPOLL_CLOEXEC) < 0)
		warn_fail("epoll", NULL);
	if (timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) < 0)
		warn_fail("timerfd", NULL);
}

int main(int argc, char **argv)
{
	char path[1024];

	if (argc < 2) {
		fprintf(stderr, "usage: holdfiles DIR [EXTRA-FILE...]\n");
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST)
		warn_fail("mkdir", argv[1]);
	snprintf(path, sizeof(path), "%s/plain.txt", argv[1]);
	open_path(path, O_RDWR | O_CREAT);
	open_path(argv[1], O_RDONLY | O_DIRECTORY);
	open_path("/", O_RDONLY | O_DIRECTORY);
	open_path("/dev/null", O_RDWR);
	open_path("/proc/self/status", O_RDONLY);
	open_deep(argv[1]);
	open_sockets(argv[1]);
	open_anon();
	open_deleted(argv[1]);
	for (int i = 2; i < argc; i++)
		open_path(argv[i], O_RDONLY);
	printf("holdfiles ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
