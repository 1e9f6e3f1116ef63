/*
 * profile.h - what upcalld knows about one guest kernel build: struct
 * member offsets and symbol addresses, made on the trusted host from the
 * kernel's vmlinux (BTF) and System.map, or from a Volatility 3 ISF JSON
 * file. Never taken from the guest.
 *
 * Loaded once into compact tables (symbols sorted by name and by address);
 * lookups never re-read text. Addresses are as linked (unslid): the
 * introspection layer adds the KASLR slides it finds.
 *
 * Ownership: profile_load()/profile_from_*() return a profile the caller
 * frees with profile_free(). Strings returned by lookups point into the
 * profile and live as long as it does. profile_load() maps a binary
 * profile file (it loads in about 1 ms that way): replace profile files by
 * rename, as profile_save() and mkprofile do, never rewrite one in place
 * while a process has it loaded (a shrunk file faults on access).
 */
#ifndef UPCALLD_PROFILE_H
#define UPCALLD_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROFILE_BANNER_MAX 512
#define PROFILE_SYMS_MAX (4u << 20)	/* cap on symbols in any input */

/*
 * Every member offset the introspection layer reads. X(ID, struct, member)
 * where member may be a dotted path through named members ("core_layout.base");
 * anonymous structs and unions are searched through transparently.
 * A field the kernel lacks is stored as -1 (PROFILE_NOFIELD).
 */
#define PROFILE_FIELDS(X) \
	X(TASK_TASKS,		"task_struct", "tasks") \
	X(TASK_PID,		"task_struct", "pid") \
	X(TASK_TGID,		"task_struct", "tgid") \
	X(TASK_COMM,		"task_struct", "comm") \
	X(TASK_REAL_PARENT,	"task_struct", "real_parent") \
	X(TASK_REAL_CRED,	"task_struct", "real_cred") \
	X(TASK_CRED,		"task_struct", "cred") \
	X(TASK_MM,		"task_struct", "mm") \
	X(TASK_ACTIVE_MM,	"task_struct", "active_mm") \
	X(TASK_FLAGS,		"task_struct", "flags") \
	X(TASK_EXIT_STATE,	"task_struct", "exit_state") \
	X(TASK_START_TIME,	"task_struct", "start_time") \
	X(TASK_START_BOOTTIME,	"task_struct", "start_boottime") \
	X(TASK_FILES,		"task_struct", "files") \
	X(TASK_GROUP_LEADER,	"task_struct", "group_leader") \
	X(TASK_PID_LINKS,	"task_struct", "pid_links") \
	X(TASK_THREAD_PID,	"task_struct", "thread_pid") \
	X(TASK_NVCSW,		"task_struct", "nvcsw") \
	X(TASK_NIVCSW,		"task_struct", "nivcsw") \
	X(TASK_EXEC_START,	"task_struct", "se.exec_start") \
	X(CRED_UID,		"cred", "uid") \
	X(CRED_EUID,		"cred", "euid") \
	X(CRED_GID,		"cred", "gid") \
	X(MM_PGD,		"mm_struct", "pgd") \
	X(MODULE_LIST,		"module", "list") \
	X(MODULE_NAME,		"module", "name") \
	X(MODULE_STATE,		"module", "state") \
	X(MODULE_CORE_BASE,	"module", "core_layout.base") \
	X(MODULE_CORE_SIZE,	"module", "core_layout.size") \
	X(MODULE_MEM,		"module", "mem") \
	X(MODULE_MEMORY_BASE,	"module_memory", "base") \
	X(MODULE_MEMORY_SIZE,	"module_memory", "size") \
	X(FILES_FDT,		"files_struct", "fdt") \
	X(FDTABLE_MAX_FDS,	"fdtable", "max_fds") \
	X(FDTABLE_FD,		"fdtable", "fd") \
	X(FILE_PATH,		"file", "f_path") \
	X(FILE_INODE,		"file", "f_inode") \
	X(FILE_FLAGS,		"file", "f_flags") \
	X(PATH_MNT,		"path", "mnt") \
	X(PATH_DENTRY,		"path", "dentry") \
	X(DENTRY_PARENT,	"dentry", "d_parent") \
	X(DENTRY_NAME,		"dentry", "d_name") \
	X(DENTRY_INODE,		"dentry", "d_inode") \
	X(DENTRY_SB,		"dentry", "d_sb") \
	X(DENTRY_HASH_PPREV,	"dentry", "d_hash.pprev") \
	X(QSTR_LEN,		"qstr", "len") \
	X(QSTR_NAME,		"qstr", "name") \
	X(INODE_MODE,		"inode", "i_mode") \
	X(INODE_INO,		"inode", "i_ino") \
	X(INODE_SB,		"inode", "i_sb") \
	X(SB_MAGIC,		"super_block", "s_magic") \
	X(VFSMOUNT_ROOT,	"vfsmount", "mnt_root") \
	X(VFSMOUNT_SB,		"vfsmount", "mnt_sb") \
	X(MOUNT_PARENT,		"mount", "mnt_parent") \
	X(MOUNT_MOUNTPOINT,	"mount", "mnt_mountpoint") \
	X(MOUNT_MNT,		"mount", "mnt") \
	X(PIDNS_IDR,		"pid_namespace", "idr") \
	X(IDR_RT,		"idr", "idr_rt") \
	X(XARRAY_HEAD,		"xarray", "xa_head") \
	X(XA_NODE_SHIFT,	"xa_node", "shift") \
	X(XA_NODE_SLOTS,	"xa_node", "slots") \
	X(PID_NUMBERS,		"pid", "numbers") \
	X(PID_TASKS,		"pid", "tasks") \
	X(UPID_NR,		"upid", "nr")

/* Struct sizes the walks need. X(ID, struct) */
#define PROFILE_SIZES(X) \
	X(TASK_STRUCT,		"task_struct") \
	X(MODULE,		"module") \
	X(MODULE_MEMORY,	"module_memory") \
	X(UPID,			"upid") \
	X(HLIST_NODE,		"hlist_node")

/* Symbols the introspection layer needs; any other is found by name too. */
#define PROFILE_SYMBOLS(X) \
	X(INIT_TASK,		"init_task") \
	X(INIT_PID_NS,		"init_pid_ns") \
	X(MODULES,		"modules") \
	X(LINUX_BANNER,		"linux_banner") \
	X(INIT_TOP_PGT,		"init_top_pgt") \
	X(PAGE_OFFSET_BASE,	"page_offset_base") \
	X(TEXT,			"_text")

#define PROFILE_NOFIELD (-1)

#define X(id, s, m) PF_##id,
enum profile_field { PROFILE_FIELDS(X) PF_COUNT };
#undef X
#define X(id, s) PS_##id,
enum profile_size { PROFILE_SIZES(X) PS_COUNT };
#undef X
#define X(id, s) PSYM_##id,
enum profile_sym { PROFILE_SYMBOLS(X) PSYM_COUNT };
#undef X

struct profile_symbol {
	uint64_t addr;
	uint32_t name;		/* offset into the string pool */
	char type;		/* System.map type letter: T, t, D, ... */
};

struct profile {
	char banner[PROFILE_BANNER_MAX];	/* linux_banner, NUL-terminated */
	uint32_t banner_len;			/* without the NUL */
	int32_t off[PF_COUNT];			/* byte offsets or -1 */
	uint32_t size[PS_COUNT];		/* sizeof, 0 if unknown */
	uint64_t known[PSYM_COUNT];		/* addresses of the named ones, 0 if absent */
	uint32_t nsyms;
	struct profile_symbol *by_name;		/* sorted by name */
	uint32_t *by_addr;			/* indexes into by_name, sorted by addr */
	char *strings;				/* string pool */
	size_t strings_len;
	char source[256];			/* where it came from, for messages */
	/* Internal to profile.c: the read-only file mapping the tables point
	 * into (profile_free unmaps it), or NULL when they are malloc'd. */
	void *map;
	size_t map_len;
};

/* Names for messages ("task_struct.tasks"), indexed by enum. */
extern const char *const profile_field_names[PF_COUNT];

/*
 * Load a profile file: upcalld's own binary format, or Volatility 3 ISF
 * JSON (optionally .json.xz is NOT supported: decompress first). The format
 * is detected from the content. Errors are -errno; a malformed file is
 * -EINVAL with a message written to err (may be NULL).
 */
int profile_load(const char *path, struct profile **out, char *err, size_t errlen);

/* Build from vmlinux (BTF via libbpf) and a System.map; sysmap may be NULL
 * to use vmlinux's ELF symbol table instead. */
int profile_from_vmlinux(const char *vmlinux, const char *sysmap,
			 struct profile **out, char *err, size_t errlen);

/* Load ISF JSON. */
int profile_from_isf(const char *path, struct profile **out, char *err,
		     size_t errlen);

/* Write in upcalld's binary format (atomic: temp file + rename). */
int profile_save(const struct profile *p, const char *path);

void profile_free(struct profile *p);

/* Symbol lookups. Return 0 and set *addr, or -ENOENT. */
int profile_sym(const struct profile *p, const char *name, uint64_t *addr);

/* The symbol at or below addr (name, and addr - its start in *off), or NULL. */
const char *profile_sym_at(const struct profile *p, uint64_t addr, uint64_t *off);

static inline int32_t profile_off(const struct profile *p, enum profile_field f)
{
	return p->off[f];
}

static inline bool profile_has(const struct profile *p, enum profile_field f)
{
	return p->off[f] != PROFILE_NOFIELD;
}

#endif
