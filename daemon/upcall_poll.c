/*
 * upcall_poll.c - the upcall clients' clock, and upcall_poll(): one round
 * of a minimal event loop over many guests' clients, for tools and tests
 * (the daemon runs its own loop with the same calls). It shows the whole
 * contract: poll every connected fd, dispatch readiness, tick every client.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "upcall.h"

#define NS_PER_MS 1000000ull

uint64_t upcall_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int poll_timeout(struct upcall *const *v, size_t n, int max_wait_ms,
			uint64_t now)
{
	uint64_t wake = UINT64_MAX;

	for (size_t i = 0; i < n; i++) {
		uint64_t t = upcall_next_wakeup(v[i]);

		wake = t < wake ? t : wake;
	}
	if (wake <= now)
		return 0;
	if (max_wait_ms < 0 || (wake - now) / NS_PER_MS < (uint64_t)max_wait_ms)
		return wake == UINT64_MAX ? max_wait_ms
					  : (int)((wake - now + NS_PER_MS - 1) /
						  NS_PER_MS);
	return max_wait_ms;
}

int upcall_poll(struct upcall *const *v, size_t n, int max_wait_ms)
{
	struct pollfd *pfd;
	size_t *who, k = 0;
	uint64_t now = upcall_now_ns();
	int ret;

	if (n > UPCALL_POLL_MAX)
		return -E2BIG;
	pfd = calloc(n ? n : 1, sizeof(*pfd));
	who = calloc(n ? n : 1, sizeof(*who));
	if (!pfd || !who) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int fd = upcall_fd(v[i]);

		if (fd < 0)
			continue;
		pfd[k] = (struct pollfd){ .fd = fd,
					  .events = upcall_poll_events(v[i]) };
		who[k++] = i;
	}
	ret = poll(pfd, k, poll_timeout(v, n, max_wait_ms, now));
	if (ret < 0) {
		ret = errno == EINTR ? 0 : -errno;
		goto out;
	}
	now = upcall_now_ns();
	for (size_t j = 0; j < k; j++) {
		if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))
			upcall_on_readable(v[who[j]], now);
		if (pfd[j].revents & POLLOUT)
			upcall_on_writable(v[who[j]], now);
	}
	for (size_t i = 0; i < n; i++)
		upcall_tick(v[i], now);
out:
	free(pfd);
	free(who);
	return ret;
}
