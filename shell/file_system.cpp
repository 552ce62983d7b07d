// The file system rule: a list of local types, everything else cached.
#include "file_system.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>

namespace pop3::shell {
namespace {

// Local types <linux/magic.h> does not name.
constexpr std::uint64_t k_zfs = 0x2fc12fc1;
constexpr std::uint64_t k_bcachefs = 0xca451a4e;
constexpr std::uint64_t k_jfs = 0x3153464a;

} // namespace

DirectoryStamps directory_stamps(std::uint64_t f_type) {
    // An allowlist, not a list of network file systems: a type missed here
    // costs a scan per login, a type wrongly trusted costs stale listings.
    switch (f_type) {
    case EXT4_SUPER_MAGIC: // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
    case F2FS_SUPER_MAGIC:
    case REISERFS_SUPER_MAGIC:
    case NILFS_SUPER_MAGIC:
    case k_zfs:
    case k_bcachefs:
    case k_jfs:
    // Every change reaches overlayfs's directories through this kernel
    // (changing a layer underneath a mounted overlay is undefined).
    case OVERLAYFS_SUPER_MAGIC:
        return DirectoryStamps::exact;
    default:
        return DirectoryStamps::cached;
    }
}

DirectoryStamps directory_stamps_of(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) return DirectoryStamps::cached;
    // The magic numbers are 32 bits; where f_type is a signed 32-bit word
    // (32-bit ABIs) the cast must not sign-extend BTRFS's 0x9123683E.
    return directory_stamps(static_cast<std::uint32_t>(fs.f_type));
}

} // namespace pop3::shell
