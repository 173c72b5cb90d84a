#include <heroshhi/retention/category.hpp>
#include <heroshhi/retention/errors.hpp>

#include <array>
#include <string>

namespace heroshhi::retention {
namespace {

class RetentionCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.retention"; }
    std::string message(int ev) const override {
        switch (static_cast<RetentionErrc>(ev)) {
            case RetentionErrc::invalid_period: return "invalid retention period";
            case RetentionErrc::optout_records_protected: return "opt-out records are never auto-deleted";
            case RetentionErrc::inconsistent_settings: return "inconsistent retention settings";
            case RetentionErrc::invalid_target: return "invalid retention target";
            case RetentionErrc::invalid_options: return "invalid sweep options";
            case RetentionErrc::corrupt_journal: return "the sweep journal cannot be read";
            case RetentionErrc::key_unavailable: return "no blind index to reduce opt-out records to keyed hashes";
        }
        return "unknown retention error";
    }
};

constexpr std::array<std::string_view, category_count> category_names{
    "lead", "message", "account", "activity_log", "audit_log", "optout_record", "analytics",
    "webhook_key"};

}  // namespace

const std::error_category& retention_category() noexcept {
    static const RetentionCategory c;
    return c;
}

std::string_view to_string(Category c) noexcept {
    const auto i = static_cast<std::size_t>(c);
    return i < category_names.size() ? category_names[i] : "unknown";
}

std::optional<Category> category_from_string(std::string_view s) noexcept {
    for (std::size_t i = 0; i < category_names.size(); ++i)
        if (category_names[i] == s) return static_cast<Category>(i);
    return std::nullopt;
}

}  // namespace heroshhi::retention
