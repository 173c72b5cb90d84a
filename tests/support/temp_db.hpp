// Test support: a unique SQLite file path under the temp directory, removed with its companions
// (-wal, -shm, -journal) when the object goes out of scope.
#pragma once

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace heroshhi::test_support {

class TempDb {
public:
    TempDb() {
        static std::atomic<unsigned> counter{0};
        std::random_device random;
        path_ = std::filesystem::temp_directory_path() /
                ("heroshhi-test-" + std::to_string(random()) + "-" + std::to_string(counter++) + ".db");
    }
    ~TempDb() {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"})
            std::filesystem::remove(path_.string() + suffix, ignored);
    }
    TempDb(const TempDb&) = delete;
    TempDb& operator=(const TempDb&) = delete;

    std::string str() const { return path_.string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace heroshhi::test_support
