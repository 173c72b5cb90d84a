// heroshhi — Expect: how the conformance suites collect failed expectations as sentences, with the
// line of the suite that made them (they run inside any host test framework, so they cannot use
// one themselves).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <heroshhi/core/result.hpp>

namespace heroshhi::testing::detail {

class Expect {
public:
    void that(bool ok, int line, std::string_view what) {
        if (!ok) failures_.push_back("line " + std::to_string(line) + ": " + std::string(what));
    }
    // Unwraps a Result; on an error records it and returns nullopt.
    template <class T>
    std::optional<T> ok(Result<T> r, int line, std::string_view what) {
        if (r) return std::move(r).value();
        failures_.push_back("line " + std::to_string(line) + ": " + std::string(what) + " failed: " + r.error().message());
        return std::nullopt;
    }
    bool ok(const Result<void>& r, int line, std::string_view what) {
        if (r) return true;
        failures_.push_back("line " + std::to_string(line) + ": " + std::string(what) + " failed: " + r.error().message());
        return false;
    }
    std::vector<std::string> take() { return std::move(failures_); }

private:
    std::vector<std::string> failures_;
};

}  // namespace heroshhi::testing::detail
