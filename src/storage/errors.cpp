#include <heroshhi/storage/errors.hpp>

#include <string>

namespace heroshhi::storage {
namespace {

class StorageCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.storage"; }
    std::string message(int ev) const override {
        switch (static_cast<StorageErrc>(ev)) {
            case StorageErrc::unavailable: return "store unavailable";
            case StorageErrc::not_a_database: return "not a heroshhi database";
            case StorageErrc::newer_schema: return "database schema is newer than this build";
            case StorageErrc::corrupt: return "database is corrupt";
            case StorageErrc::read_only: return "database is read-only";
            case StorageErrc::full: return "disk or database full";
            case StorageErrc::invalid_argument: return "invalid record";
            case StorageErrc::not_found: return "record not found";
            case StorageErrc::conflict: return "record conflicts with a stored one";
            case StorageErrc::key_unavailable: return "the keys to read the encrypted data are not available";
            case StorageErrc::not_encrypted: return "the database is not encrypted but was opened with keys";
        }
        return "unknown storage error";
    }
};

}  // namespace

const std::error_category& storage_category() noexcept {
    static const StorageCategory c;
    return c;
}

}  // namespace heroshhi::storage
