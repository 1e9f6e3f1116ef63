/*
 * xenlab_serial.c - dom0 helper of the Xen lab (tests/lab/xenlab.sh): put a
 * 16550 port into polled mode (irq 0). In a PV dom0 Linux hands the legacy
 * IRQ 3 of ttyS1 to a Xen IPI, so opening ttyS1 fails with a flags mismatch;
 * as root the open still succeeds far enough for TIOCSSERIAL (serial_core
 * allows "setserial" on a port whose startup failed), and with irq 0 the
 * 8250 driver polls the port from a timer. busybox has no setserial.
 *
 * Usage: xenlab_serial /dev/ttyS1
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/serial.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct serial_struct ss;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/ttySN\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "xenlab_serial: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memset(&ss, 0, sizeof(ss));
	if (ioctl(fd, TIOCGSERIAL, &ss) < 0) {
		fprintf(stderr, "xenlab_serial: TIOCGSERIAL: %s\n", strerror(errno));
		return 1;
	}
	ss.irq = 0;
	if (ioctl(fd, TIOCSSERIAL, &ss) < 0) {
		fprintf(stderr, "xenlab_serial: TIOCSSERIAL: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
