/*
 * gtps.c - guest-side ground truth for the Xen lab's domU (static, in the
 * guest's /usr/bin): the guest's own process list, read from /proc in one
 * process (a shell forking per process was too slow under nested TCG to
 * ever finish a snapshot). Framed for tests/lab/xen-dom0-smoke.sh:
 *
 *   GT-PS-BEGIN <uptime> <snapshot number>
 *   GT <pid> <ppid> <uid> <comm>
 *   GT-PS-END
 *
 *   gtps [-i SECONDS]   with -i: a snapshot every SECONDS, forever
 *
 * Each snapshot is built in memory and written with one write(2), so a
 * reader never sees two snapshots interleaved.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GTPS_OUT_MAX (256 * 1024)

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* One "GT pid ppid uid comm" line for /proc/<pid>; 0 if it vanished. */
static int one(const char *pid, char *out, size_t len)
{
	char path[64], stat[1024], status[4096], *open_p, *close_p, *u;
	int ppid = -1;
	long uid = -1;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (read_file(path, stat, sizeof(stat)))
		return 0;
	/* comm may hold spaces and parentheses: it ends at the last ')' */
	open_p = strchr(stat, '(');
	close_p = strrchr(stat, ')');
	if (!open_p || !close_p || close_p < open_p)
		return 0;
	*close_p = '\0';
	if (sscanf(close_p + 2, "%*c %d", &ppid) != 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (!read_file(path, status, sizeof(status)) && (u = strstr(status, "\nUid:")))
		uid = strtol(u + 5, NULL, 10);
	return snprintf(out, len, "GT %s %d %ld %s\n", pid, ppid, uid, open_p + 1);
}

static void snapshot(char *out, unsigned long nr)
{
	char up[64] = "?";
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	if (!read_file("/proc/uptime", up, sizeof(up)))
		up[strcspn(up, " ")] = '\0';
	n += snprintf(out, GTPS_OUT_MAX, "GT-PS-BEGIN %s %lu\n", up, nr);
	d = opendir("/proc");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (GTPS_OUT_MAX - n < 512)
			break;
		n += one(e->d_name, out + n, GTPS_OUT_MAX - n);
	}
	if (d)
		closedir(d);
	n += snprintf(out + n, GTPS_OUT_MAX - n, "GT-PS-END\n");
	if (write(STDOUT_FILENO, out, n) < 0)
		exit(1);
}

int main(int argc, char **argv)
{
	static char out[GTPS_OUT_MAX];
	unsigned int every = 0;
	unsigned long nr = 0;
	int opt;

	while ((opt = getopt(argc, argv, "i:")) != -1) {
		if (opt != 'i') {
			fprintf(stderr, "usage: gtps [-i SECONDS]\n");
			return 2;
		}
		every = (unsigned int)atoi(optarg);
	}
	do {
		snapshot(out, ++nr);
		if (every)
			sleep(every);
	} while (every);
	return 0;
}
