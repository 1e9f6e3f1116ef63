/*
 * gdbrsp_codec.c - the GDB remote protocol's byte-level codec, free of I/O:
 * checksums, framing with escapes, unescaping, hex, and recognising stop
 * and error replies. Inputs may come from a hostile peer: every function
 * is bounded by its length arguments and never reads past them.
 */
#include "gdbrsp.h"

#include <errno.h>
#include <stdio.h>

uint8_t gdbrsp_checksum(const void *p, size_t n)
{
	const unsigned char *c = p;
	unsigned int sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += c[i];
	return (uint8_t)sum;
}

static bool needs_escape(unsigned char c)
{
	return c == '$' || c == '#' || c == '}' || c == '*';
}

int gdbrsp_frame(const void *payload, size_t n, char *out, size_t cap)
{
	const unsigned char *p = payload;
	unsigned int sum = 0;
	size_t o = 0;

	if (cap < 1)
		return -ENOSPC;
	out[o++] = '$';
	for (size_t i = 0; i < n; i++) {
		if (o + 2 >= cap)
			return -ENOSPC;
		if (needs_escape(p[i])) {
			out[o++] = '}';
			out[o++] = (char)(p[i] ^ 0x20);
			sum += '}' + (p[i] ^ 0x20);
		} else {
			out[o++] = (char)p[i];
			sum += p[i];
		}
	}
	if (o + 4 > cap || o + 3 > (size_t)INT32_MAX)
		return -ENOSPC;
	snprintf(out + o, 4, "#%02x", sum & 0xff);
	return (int)(o + 3);
}

int gdbrsp_unescape(char *buf, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '}') {
			buf[o++] = buf[i];
			continue;
		}
		if (++i >= n)
			return -EBADMSG;
		buf[o++] = (char)(buf[i] ^ 0x20);
	}
	if (o > (size_t)INT32_MAX)
		return -EMSGSIZE;
	return (int)o;
}

int gdbrsp_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gdbrsp_hex_decode(const char *hex, size_t n, uint8_t *out, size_t cap)
{
	if (n % 2 || n / 2 > cap || n / 2 > (size_t)INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = gdbrsp_hex_digit((unsigned char)hex[2 * i]);
		int lo = gdbrsp_hex_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

void gdbrsp_hex_encode(const void *p, size_t n, char *out)
{
	static const char dig[] = "0123456789abcdef";
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dig[c[i] >> 4];
		out[2 * i + 1] = dig[c[i] & 15];
	}
	out[2 * n] = '\0';
}

int gdbrsp_parse_hex(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = gdbrsp_hex_digit((unsigned char)s[i]);
		if (d < 0 || x >> 60)
			return -EINVAL;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 0;
}

int gdbrsp_stop_signal(const char *p, size_t n)
{
	if (n < 3 || (p[0] != 'T' && p[0] != 'S'))
		return -1;
	int hi = gdbrsp_hex_digit((unsigned char)p[1]), lo = gdbrsp_hex_digit((unsigned char)p[2]);
	return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

bool gdbrsp_is_stop(const char *p, size_t n)
{
	if (n >= 1 && (p[0] == 'W' || p[0] == 'X'))
		return true;
	return gdbrsp_stop_signal(p, n) >= 0;
}

int gdbrsp_reply_error(const char *reply, size_t len, int *code)
{
	uint64_t v;

	if (len < 1 || reply[0] != 'E')
		return 0;
	if (len == 3 && !gdbrsp_parse_hex(reply + 1, 2, &v)) {
		if (code)
			*code = (int)v;
		return -EIO;
	}
	/* "E.message" and other forms: still an error, code unknown. */
	if (code)
		*code = -1;
	return -EIO;
}
