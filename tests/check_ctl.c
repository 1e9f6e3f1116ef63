/*
 * check_ctl.c - the control socket over a real unix socket: immediate and
 * deferred replies, malformed and oversized requests, vanished clients.
 */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

struct srv {
	struct ctl *ctl;
	char path[108];
	uint64_t deferred;	/* client waiting for a "later" reply */
	int requests;
};

static void on_request(void *ctx, struct ctl *c, uint64_t client,
		       struct json_object *req)
{
	struct srv *s = ctx;
	struct json_object *cmd, *r;

	s->requests++;
	json_object_object_get_ex(req, "cmd", &cmd);
	if (!strcmp(json_object_get_string(cmd), "later")) {
		s->deferred = client;
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "ok", json_object_new_boolean(1));
	json_object_object_add(r, "echo", json_object_get(cmd));
	ctl_reply(c, client, r);
}

/* Run the server loop until *stop is set or about five seconds pass. */
static void serve(struct srv *s, volatile int *stop)
{
	struct pollfd pfd[CTL_CLIENTS_MAX + 1];
	int spins = 0;

	while (!*stop && spins++ < 2500) {
		size_t n = ctl_pollfds(s->ctl, pfd, CTL_CLIENTS_MAX + 1);

		if (poll(pfd, n, 2) > 0)
			ctl_dispatch(s->ctl, pfd, n);
	}
}

static void srv_init(struct srv *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "/tmp/check_ctl.%d.sock", (int)getpid());
	ck_assert_int_eq(ctl_new(s->path, on_request, s, &s->ctl), 0);
}

struct call {
	struct srv *s;
	const char *cmd;
	int rc;
	struct json_object *reply;
	volatile int finished;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(c->cmd));
	c->rc = ctl_call(c->s->path, req, 3000, &c->reply);
	json_object_put(req);
	c->finished = 1;
	return NULL;
}

START_TEST(test_request_gets_reply_line)
{
	struct srv s;
	struct call c = { .s = &s, .cmd = "status" };
	struct json_object *echo;
	pthread_t t;

	srv_init(&s);
	pthread_create(&t, NULL, call_thread, &c);
	serve(&s, &c.finished);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.rc, 0);
	ck_assert(json_object_object_get_ex(c.reply, "echo", &echo));
	ck_assert_str_eq(json_object_get_string(echo), "status");
	json_object_put(c.reply);
	ctl_free(s.ctl);
	ck_assert_int_eq(access(s.path, F_OK), -1);
}
END_TEST

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Drive the server until fd has a full line to read (or a few seconds). */
static size_t pump_and_read(struct srv *s, int fd, char *buf, size_t cap)
{
	size_t len = 0;
	int i;

	for (i = 0; i < 2000 && !memchr(buf, '\n', len); i++) {
		struct pollfd pfd[CTL_CLIENTS_MAX + 1];
		size_t n = ctl_pollfds(s->ctl, pfd, CTL_CLIENTS_MAX + 1);
		ssize_t r;

		if (poll(pfd, n, 1) > 0)
			ctl_dispatch(s->ctl, pfd, n);
		r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (r > 0)
			len += (size_t)r;
		else if (r == 0)
			break;
	}
	buf[len] = '\0';
	return len;
}

START_TEST(test_malformed_json_gets_error_reply_and_connection_survives)
{
	struct srv s;
	char buf[4096] = "";
	int fd;

	srv_init(&s);
	fd = raw_connect(s.path);
	ck_assert_int_eq(write(fd, "{not json\n", 10), 10);
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"ok\":false"));
	ck_assert_int_eq(s.requests, 0);
	ck_assert_int_eq(write(fd, "{\"cmd\":\"x\"}\n", 12), 12);
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"echo\":\"x\""));
	close(fd);
	ctl_free(s.ctl);
}
END_TEST

START_TEST(test_object_without_cmd_string_is_rejected)
{
	struct srv s;
	char buf[4096] = "";
	int fd;

	srv_init(&s);
	fd = raw_connect(s.path);
	ck_assert_int_eq(write(fd, "{\"cmd\":42}\n", 11), 11);
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "JSON object with a"));
	ck_assert_int_eq(s.requests, 0);
	close(fd);
	ctl_free(s.ctl);
}
END_TEST

START_TEST(test_oversized_request_line_gets_error_and_is_not_parsed)
{
	struct srv s;
	char *big = malloc(CTL_REQ_MAX + 10), buf[4096] = "";
	size_t off = 0;
	int fd, i;

	srv_init(&s);
	memset(big, 'a', CTL_REQ_MAX + 10);
	fd = raw_connect(s.path);
	for (i = 0; i < 4000 && off < CTL_REQ_MAX + 10; i++) {
		struct pollfd pfd[CTL_CLIENTS_MAX + 1];
		size_t n = ctl_pollfds(s.ctl, pfd, CTL_CLIENTS_MAX + 1);
		ssize_t w = send(fd, big + off, CTL_REQ_MAX + 10 - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		if (poll(pfd, n, 1) > 0)
			ctl_dispatch(s.ctl, pfd, n);
	}
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "too long"));
	ck_assert_int_eq(s.requests, 0);
	close(fd);
	free(big);
	ctl_free(s.ctl);
}
END_TEST

START_TEST(test_deferred_reply_reaches_its_client)
{
	struct srv s;
	char buf[4096] = "";
	int fd;

	srv_init(&s);
	fd = raw_connect(s.path);
	ck_assert_int_eq(write(fd, "{\"cmd\":\"later\"}\n{\"cmd\":\"now\"}\n", 30), 30);
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"echo\":\"now\""));
	ck_assert_uint_ne(s.deferred, 0);
	ck_assert_int_eq(ctl_reply_error(s.ctl, s.deferred, "deferred answer"), 0);
	buf[0] = '\0';
	pump_and_read(&s, fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "deferred answer"));
	close(fd);
	ctl_free(s.ctl);
}
END_TEST

START_TEST(test_reply_to_vanished_client_returns_enoent)
{
	struct srv s;
	int fd, i;

	srv_init(&s);
	fd = raw_connect(s.path);
	ck_assert_int_eq(write(fd, "{\"cmd\":\"later\"}\n", 16), 16);
	for (i = 0; i < 2000 && !s.deferred; i++) {
		struct pollfd pfd[CTL_CLIENTS_MAX + 1];
		size_t n = ctl_pollfds(s.ctl, pfd, CTL_CLIENTS_MAX + 1);

		if (poll(pfd, n, 1) > 0)
			ctl_dispatch(s.ctl, pfd, n);
	}
	ck_assert_uint_ne(s.deferred, 0);
	close(fd);
	/* the server sees EOF; a pending request keeps the slot until answered */
	for (i = 0; i < 200; i++) {
		struct pollfd pfd[CTL_CLIENTS_MAX + 1];
		size_t n = ctl_pollfds(s.ctl, pfd, CTL_CLIENTS_MAX + 1);

		if (poll(pfd, n, 1) > 0)
			ctl_dispatch(s.ctl, pfd, n);
	}
	/* the answer cannot be delivered: the slot is freed... */
	ctl_reply_error(s.ctl, s.deferred, "x");
	/* ...so a second answer, or one with a forged generation, finds nobody */
	ck_assert_int_eq(ctl_reply_error(s.ctl, s.deferred, "x"), -ENOENT);
	ck_assert_int_eq(ctl_reply_error(s.ctl, s.deferred ^ (1u << 8), "x"), -ENOENT);
	ctl_free(s.ctl);
}
END_TEST

START_TEST(test_call_to_missing_socket_fails_cleanly)
{
	struct json_object *req = json_object_new_object(), *rep = NULL;

	ck_assert_int_eq(ctl_call("/nonexistent/upcalld.sock", req, 100, &rep), -ENOENT);
	ck_assert_ptr_null(rep);
	json_object_put(req);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("socket");

	tcase_add_test(tc, test_request_gets_reply_line);
	tcase_add_test(tc, test_malformed_json_gets_error_reply_and_connection_survives);
	tcase_add_test(tc, test_object_without_cmd_string_is_rejected);
	tcase_add_test(tc, test_oversized_request_line_gets_error_and_is_not_parsed);
	tcase_add_test(tc, test_deferred_reply_reaches_its_client);
	tcase_add_test(tc, test_reply_to_vanished_client_returns_enoent);
	tcase_add_test(tc, test_call_to_missing_socket_fails_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
