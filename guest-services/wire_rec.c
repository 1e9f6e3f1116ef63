/*
 * wire_rec.c - record codec of the upcall wire protocol (see wire.h):
 * encoders used by the agent, and the bound-checked decoders the daemon
 * runs on bodies that passed their MAC but still come from a guest that
 * may lie. Every length is checked against the record and the body before
 * a byte is read.
 */
#include <errno.h>
#include <string.h>

#include "wire.h"

/* ---- records ---------------------------------------------------------- */

static bool has_nul(const char *s, size_t n)
{
	return n && memchr(s, 0, n) != NULL;
}

int wire_proc_put(uint8_t *buf, size_t cap, const struct wire_proc *p)
{
	size_t n = WIRE_PROC_FIXED + p->exe_len;

	if (p->exe_len > WIRE_PATH_MAX || (p->exe_len && !p->exe) ||
	    !memchr(p->comm, 0, WIRE_COMM_LEN))
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	memset(buf, 0, WIRE_PROC_FIXED);
	wire_put16(buf, (uint16_t)n);
	wire_put16(buf + 2, p->flags);
	wire_put32(buf + 4, (uint32_t)p->pid);
	wire_put32(buf + 8, (uint32_t)p->ppid);
	wire_put32(buf + 12, (uint32_t)p->tgid);
	wire_put32(buf + 16, p->uid);
	wire_put32(buf + 20, p->euid);
	wire_put32(buf + 24, p->gid);
	buf[28] = (uint8_t)p->state;
	wire_put16(buf + 30, p->exe_len);
	wire_put64(buf + 32, p->start_ns);
	memcpy(buf + 40, p->comm, strnlen(p->comm, WIRE_COMM_LEN));
	if (p->exe_len)
		memcpy(buf + WIRE_PROC_FIXED, p->exe, p->exe_len);
	return (int)n;
}

int wire_module_put(uint8_t *buf, size_t cap, const struct wire_module *m)
{
	size_t n = WIRE_MODULE_FIXED + m->name_len;

	if (!m->name_len || m->name_len > WIRE_MODNAME_MAX || !m->name ||
	    m->state > WIRE_MOD_UNFORMED)
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	memset(buf, 0, WIRE_MODULE_FIXED);
	wire_put16(buf, (uint16_t)n);
	wire_put16(buf + 2, m->flags);
	buf[4] = m->state;
	buf[5] = m->name_len;
	wire_put64(buf + 8, m->size);
	wire_put64(buf + 16, m->base);
	memcpy(buf + WIRE_MODULE_FIXED, m->name, m->name_len);
	return (int)n;
}

int wire_file_put(uint8_t *buf, size_t cap, const struct wire_file *f)
{
	size_t n = WIRE_FILE_FIXED + f->link_len;

	if (f->link_len > WIRE_PATH_MAX || (f->link_len && !f->link))
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	memset(buf, 0, WIRE_FILE_FIXED);
	wire_put16(buf, (uint16_t)n);
	wire_put16(buf + 2, f->flags);
	wire_put32(buf + 4, (uint32_t)f->pid);
	wire_put32(buf + 8, (uint32_t)f->fd);
	wire_put16(buf + 12, f->link_len);
	if (f->link_len)
		memcpy(buf + WIRE_FILE_FIXED, f->link, f->link_len);
	return (int)n;
}

int wire_info_put(uint8_t *buf, size_t cap, const struct wire_info *i)
{
	size_t n = WIRE_INFO_FIXED + i->agent_len;

	if (i->agent_len > WIRE_AGENT_STR_MAX || (i->agent_len && !i->agent))
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	memset(buf, 0, WIRE_INFO_FIXED);
	wire_put16(buf, (uint16_t)n);
	wire_put32(buf + 4, i->max_version);
	wire_put32(buf + 8, i->queries);
	wire_put32(buf + 12, i->clk_tck);
	wire_put32(buf + 16, i->frame_body_max);
	buf[20] = i->agent_len;
	if (i->agent_len)
		memcpy(buf + WIRE_INFO_FIXED, i->agent, i->agent_len);
	return (int)n;
}

/*
 * Common record framing: the record at body[*off] must hold its fixed part
 * plus var bytes within rec_len. Returns 1 at the end, 0 with *rec set.
 */
static int rec_begin(const uint8_t *body, size_t len, size_t *off,
		     size_t fixed, const uint8_t **rec, size_t *rec_len)
{
	size_t left;

	if (*off > len)
		return -EBADMSG;
	left = len - *off;
	if (left == 0)
		return 1;
	if (left < 2)
		return -ENODATA;
	*rec = body + *off;
	*rec_len = wire_get16(*rec);
	if (*rec_len < fixed)
		return -EBADMSG;
	if (*rec_len > left)
		return -ENODATA;
	return 0;
}

int wire_proc_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_proc *p)
{
	const uint8_t *r;
	size_t rl;
	int ret = rec_begin(body, len, off, WIRE_PROC_FIXED, &r, &rl);

	if (ret)
		return ret;
	p->flags = wire_get16(r + 2);
	p->pid = (int32_t)wire_get32(r + 4);
	p->ppid = (int32_t)wire_get32(r + 8);
	p->tgid = (int32_t)wire_get32(r + 12);
	p->uid = wire_get32(r + 16);
	p->euid = wire_get32(r + 20);
	p->gid = wire_get32(r + 24);
	p->state = (char)r[28];
	p->exe_len = wire_get16(r + 30);
	p->start_ns = wire_get64(r + 32);
	memcpy(p->comm, r + 40, WIRE_COMM_LEN);
	p->exe = p->exe_len ? (const char *)r + WIRE_PROC_FIXED : NULL;
	if (p->exe_len > WIRE_PATH_MAX || WIRE_PROC_FIXED + p->exe_len > rl ||
	    !memchr(p->comm, 0, WIRE_COMM_LEN) || has_nul(p->exe, p->exe_len) ||
	    p->pid <= 0 || p->ppid < 0 || p->tgid <= 0 ||
	    (uint8_t)p->state < 0x21 || (uint8_t)p->state > 0x7e)
		return -EBADMSG;
	*off += rl;
	return 0;
}

int wire_module_next(const uint8_t *body, size_t len, size_t *off,
		     struct wire_module *m)
{
	const uint8_t *r;
	size_t rl;
	int ret = rec_begin(body, len, off, WIRE_MODULE_FIXED, &r, &rl);

	if (ret)
		return ret;
	m->flags = wire_get16(r + 2);
	m->state = r[4];
	m->name_len = r[5];
	m->size = wire_get64(r + 8);
	m->base = wire_get64(r + 16);
	m->name = (const char *)r + WIRE_MODULE_FIXED;
	if (!m->name_len || m->name_len > WIRE_MODNAME_MAX ||
	    WIRE_MODULE_FIXED + m->name_len > rl ||
	    has_nul(m->name, m->name_len) || m->state > WIRE_MOD_UNFORMED)
		return -EBADMSG;
	*off += rl;
	return 0;
}

int wire_file_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_file *f)
{
	const uint8_t *r;
	size_t rl;
	int ret = rec_begin(body, len, off, WIRE_FILE_FIXED, &r, &rl);

	if (ret)
		return ret;
	f->flags = wire_get16(r + 2);
	f->pid = (int32_t)wire_get32(r + 4);
	f->fd = (int32_t)wire_get32(r + 8);
	f->link_len = wire_get16(r + 12);
	f->link = f->link_len ? (const char *)r + WIRE_FILE_FIXED : NULL;
	if (f->link_len > WIRE_PATH_MAX || WIRE_FILE_FIXED + f->link_len > rl ||
	    has_nul(f->link, f->link_len) || f->pid <= 0 || f->fd < 0)
		return -EBADMSG;
	*off += rl;
	return 0;
}

int wire_info_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_info *i)
{
	const uint8_t *r;
	size_t rl;
	int ret = rec_begin(body, len, off, WIRE_INFO_FIXED, &r, &rl);

	if (ret)
		return ret;
	i->max_version = wire_get32(r + 4);
	i->queries = wire_get32(r + 8);
	i->clk_tck = wire_get32(r + 12);
	i->frame_body_max = wire_get32(r + 16);
	i->agent_len = r[20];
	i->agent = i->agent_len ? (const char *)r + WIRE_INFO_FIXED : NULL;
	if (i->agent_len > WIRE_AGENT_STR_MAX ||
	    WIRE_INFO_FIXED + i->agent_len > rl ||
	    has_nul(i->agent, i->agent_len))
		return -EBADMSG;
	*off += rl;
	return 0;
}

int wire_files_args_put(uint8_t *buf, size_t cap, int32_t pid)
{
	if (cap < WIRE_FILES_ARGS_LEN)
		return -ENOSPC;
	wire_put32(buf, (uint32_t)pid);
	wire_put32(buf + 4, 0);
	return WIRE_FILES_ARGS_LEN;
}

int wire_files_args_get(const uint8_t *body, size_t len, int32_t *pid)
{
	if (len < WIRE_FILES_ARGS_LEN)
		return -ENODATA;
	*pid = (int32_t)wire_get32(body);
	if (*pid <= 0 && *pid != WIRE_PID_ALL)
		return -EINVAL;
	return 0;
}

const char *wire_query_str(unsigned int q)
{
	static const char *const s[] = {
		[WIRE_Q_PROCS] = "procs", [WIRE_Q_FILES] = "files",
		[WIRE_Q_MODULES] = "modules", [WIRE_Q_INFO] = "info",
	};

	return q < sizeof(s) / sizeof(s[0]) && s[q] ? s[q] : "unknown";
}

const char *wire_status_str(unsigned int st)
{
	static const char *const s[] = {
		[WIRE_ST_OK] = "ok", [WIRE_ST_UNSUPPORTED] = "unsupported",
		[WIRE_ST_BAD_REQUEST] = "bad request",
		[WIRE_ST_NOT_FOUND] = "not found", [WIRE_ST_PARTIAL] = "partial",
		[WIRE_ST_ERROR] = "agent error",
		[WIRE_ST_AUTH] = "request MAC rejected",
		[WIRE_ST_VERSION] = "version not spoken",
	};

	return st < sizeof(s) / sizeof(s[0]) && s[st] ? s[st] : "unknown";
}

const char *wire_reject_str(enum wire_reject r)
{
	switch (r) {
	case WIRE_REJ_GARBAGE: return "garbage";
	case WIRE_REJ_BAD_MAC: return "bad MAC";
	case WIRE_REJ_VERSION: return "wrong version";
	case WIRE_REJ_OVERSIZE: return "oversize body";
	case WIRE_REJ_TRUNCATED: return "truncated frame";
	}
	return "unknown";
}
