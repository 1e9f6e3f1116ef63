/*
 * fuzz_wire.c - libFuzzer target for the upcall frame decoder (wire_rx)
 * and the record decoders.
 *
 * Random bytes alone never get past an HMAC, so the input is a small
 * program that builds the stream: raw bytes, frames sealed with the test
 * key (any header fields, any body), sealed frames with a flipped byte or
 * cut short, and authentic headers claiming huge bodies. The stream is then
 * fed to the decoder in input-chosen chunk sizes; every frame it hands out
 * must carry a valid MAC and a body within the caps, and every body is run
 * through all record decoders. Raw input also goes straight to the record
 * decoders. Run: make fuzz (FUZZ_SECONDS=600 for ten minutes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX (1u << 20)

static struct wire_key *key;
static struct wire_rx rx;
static uint8_t *stream;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t k[WIRE_KEY_LEN];

	for (unsigned int i = 0; i < WIRE_KEY_LEN; i++)
		k[i] = (uint8_t)(i * 7 + 1);
	if (wire_key_new(k, &key) < 0 || wire_rx_init(&rx) < 0)
		abort();
	stream = malloc(STREAM_MAX);
	if (!stream)
		abort();
	return 0;
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

/* Walk a body with every record decoder; they must stay inside it. */
static void decode_body(const uint8_t *b, size_t len)
{
	struct wire_proc p;
	struct wire_module m;
	struct wire_file f;
	struct wire_info in;
	size_t off;
	int32_t pid;
	int r;

	for (off = 0; (r = wire_proc_next(b, len, &off, &p)) == 0;)
		check(off <= len && (!p.exe || p.exe + p.exe_len <=
				     (const char *)b + len), "proc bounds");
	for (off = 0; (r = wire_module_next(b, len, &off, &m)) == 0;)
		check(off <= len && m.name + m.name_len <=
		      (const char *)b + len, "module bounds");
	for (off = 0; (r = wire_file_next(b, len, &off, &f)) == 0;)
		check(off <= len && (!f.link || f.link + f.link_len <=
				     (const char *)b + len), "file bounds");
	for (off = 0; (r = wire_info_next(b, len, &off, &in)) == 0;)
		check(off <= len, "info bounds");
	(void)wire_files_args_get(b, len, &pid);
}

/* Append a sealed frame built from the input; returns bytes used. */
static size_t op_frame(const uint8_t *d, size_t n, size_t *slen, int how)
{
	struct wire_hdr h;
	size_t blen, flen, used = 16;
	int r;

	if (n < 16)
		return n;
	memset(&h, 0, sizeof(h));
	h.version = d[0] < 240 ? WIRE_VERSION : d[0];
	h.type = d[1] & 3;
	h.query = d[2] & 7;
	h.status = d[3] & 7;
	h.flags = d[4] & 1;
	h.seq = d[5];
	h.req_id = d[6];
	memcpy(h.nonce, d + 7, 8);
	blen = ((size_t)d[14] << 8 | d[15]) % 2048;
	if (blen > n - used)
		blen = n - used;
	h.body_len = (uint32_t)blen;
	flen = wire_frame_len(h.body_len);
	if (*slen + flen > STREAM_MAX)
		return n;
	r = wire_encode(key, &h, d + used, stream + *slen, STREAM_MAX - *slen);
	check(r == (int)flen, "encode length");
	if (how == 1 && flen)	/* flip one byte */
		stream[*slen + d[13] % flen] ^= (uint8_t)(1u << (d[12] & 7));
	if (how == 2)		/* cut short */
		flen = ((size_t)d[12] << 8 | d[13]) % flen;
	*slen += flen;
	return used + blen;
}

/* An authentic header claiming a body over the cap. */
static size_t op_big_header(const uint8_t *d, size_t n, size_t *slen)
{
	uint8_t *p = stream + *slen;

	if (n < 4 || *slen + WIRE_HDR_LEN > STREAM_MAX)
		return n;
	memset(p, 0, WIRE_HDR_LEN);
	wire_put32(p, WIRE_MAGIC);
	wire_put16(p + 4, WIRE_VERSION);
	wire_put16(p + 6, WIRE_T_REPLY);
	wire_put32(p + 44, WIRE_FRAME_BODY_MAX + 1 + wire_get32(d) % 1000000u);
	wire_mac(key, 'H', p, WIRE_HDR_FIELDS_LEN, p + WIRE_HDR_FIELDS_LEN);
	*slen += WIRE_HDR_LEN;
	return 4;
}

static size_t build_stream(const uint8_t *d, size_t n)
{
	size_t slen = 0, i = 0;

	while (i < n) {
		uint8_t op = d[i++];
		size_t left = n - i, k;

		switch (op % 5) {
		case 0:	/* raw bytes */
			k = left < (size_t)(op >> 3) + 1 ? left : (size_t)(op >> 3) + 1;
			if (slen + k > STREAM_MAX)
				return slen;
			memcpy(stream + slen, d + i, k);
			slen += k;
			i += k;
			break;
		case 4:
			i += op_big_header(d + i, left, &slen);
			break;
		default:
			i += op_frame(d + i, left, &slen, op % 5 - 1);
			break;
		}
	}
	return slen;
}

static void drain(void)
{
	struct wire_rx_event ev;
	enum wire_rx_result r;
	unsigned int guard = 0;

	while ((r = wire_rx_next(&rx, key, &ev)) != WIRE_RX_NEED) {
		check(++guard < 10000000u, "decoder loops");
		if (r != WIRE_RX_FRAME)
			continue;
		check(ev.hdr.body_len <= WIRE_FRAME_BODY_MAX, "body cap");
		check(ev.hdr.version == WIRE_VERSION, "version");
		check(wire_frame_mac_ok(key, ev.body - WIRE_HDR_LEN,
					wire_frame_len(ev.hdr.body_len)),
		      "delivered frame has a bad MAC");
		decode_body(ev.body, ev.hdr.body_len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_rx_event ev;
	size_t slen, pos = 0, step;
	unsigned int seed = 0;

	decode_body(data, size);
	if (size < 1)
		return 0;
	seed = data[0];
	slen = build_stream(data + 1, size - 1);
	wire_rx_reset(&rx);
	while (pos < slen) {
		seed = seed * 1103515245u + 12345u;
		step = 1 + (seed >> 8) % (seed & 0x100 ? 7 : 70000);
		if (step > slen - pos)
			step = slen - pos;
		step = wire_rx_feed(&rx, stream + pos, step);
		check(step > 0, "decoder refuses input after NEED");
		pos += step;
		drain();
	}
	while (wire_rx_eof(&rx, &ev) != WIRE_RX_NEED)
		;
	return 0;
}
