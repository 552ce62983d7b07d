// What a mailstore's file system type (statfs(2) f_type) tells about its
// directory stamps: whether "new/ and cur/ look unchanged" means they are.
#pragma once
#include <cstdint>

namespace pop3::shell {

enum class DirectoryStamps {
    // A local file system: every change to a directory, by any process,
    // goes through this kernel and moves its mtime and ctime at once.
    exact,
    // NFS, FUSE (GlusterFS, sshfs, ...), CIFS/SMB, Ceph, 9p, AFS, GFS2,
    // OCFS2, Lustre, and any type not known to be local: another host's
    // change may show up here only after a client's attribute cache
    // expires (GlusterFS: about 1 s by default, up to 600 s with its
    // metadata-cache group), so an unchanged stamp proves nothing.
    cached,
};

// The rule for the file system type `f_type` (docs/scaling.md, "File
// systems"): exact only for a fixed list of local types.
[[nodiscard]] DirectoryStamps directory_stamps(std::uint64_t f_type);

// The rule for the file system holding the open file `fd`; cached when
// fstatfs(2) fails.
[[nodiscard]] DirectoryStamps directory_stamps_of(int fd);

} // namespace pop3::shell
