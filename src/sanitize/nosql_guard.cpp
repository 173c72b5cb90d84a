#include <heroshhi/sanitize/nosql_guard.hpp>

#include <heroshhi/core/errors.hpp>

#include <cstdio>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace heroshhi::sanitize {
namespace {

using json = nlohmann::json;
using Segments = std::vector<std::string>;

constexpr std::size_t kMaxDepthCeiling = 512;

/// "/a~1b/0" from {"a/b", "0"}.
std::string pointer(const Segments& segments) {
    std::string out;
    for (const std::string& s : segments) {
        out += '/';
        for (const char c : s) {
            if (c == '~') out += "~0";
            else if (c == '/') out += "~1";
            else out += c;
        }
    }
    return out;
}

/// A path made fit for an error detail: control bytes escaped, at most ~200 bytes.
std::string printable(std::string_view path) {
    std::string out;
    for (const char ch : path) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += ch;
        }
        if (out.size() > 200) {
            out += "...";
            break;
        }
    }
    return out;
}

std::optional<SanitizeErrc> key_fault(std::string_view key, bool allow_dots) {
    if (!key.empty() && key.front() == '$') return SanitizeErrc::operator_key;
    if (key == "__proto__" || key == "constructor" || key == "prototype") return SanitizeErrc::prototype_key;
    if (!allow_dots && key.find('.') != std::string_view::npos) return SanitizeErrc::dotted_key;
    return std::nullopt;
}

bool is_container(const json& v) { return v.is_object() || v.is_array(); }

/// Splits a JSON Pointer into unescaped segments; nullopt if it is not one.
std::optional<Segments> split_pointer(std::string_view p) {
    Segments out;
    if (p.empty()) return out;
    if (p.front() != '/') return std::nullopt;
    std::string current;
    for (std::size_t i = 1; i <= p.size(); ++i) {
        if (i == p.size() || p[i] == '/') {
            out.push_back(std::move(current));
            current.clear();
        } else if (p[i] == '~') {
            if (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1')) return std::nullopt;
            current += p[i + 1] == '0' ? '~' : '/';
            ++i;
        } else {
            current += p[i];
        }
    }
    return out;
}

struct Counts {
    std::size_t bytes = 0;
    std::size_t keys = 0;
    std::size_t values = 0;
};

/// Checks the limits on a document; recursion is bounded by max_depth.
Result<void> check_limits(const json& v, const NoSqlLimits& limits, std::size_t depth, Counts& counts) {
    if (++counts.values > limits.max_values)
        return Error(SanitizeErrc::too_large, "more than " + std::to_string(limits.max_values) + " values");
    if (v.is_string()) {
        counts.bytes += v.get_ref<const std::string&>().size();
    } else if (is_container(v)) {
        if (depth + 1 > limits.max_depth)
            return Error(SanitizeErrc::too_deep, "nested deeper than " + std::to_string(limits.max_depth));
        if (v.is_object()) {
            for (const auto& [key, child] : v.items()) {
                if (++counts.keys > limits.max_keys)
                    return Error(SanitizeErrc::too_many_keys, "more than " + std::to_string(limits.max_keys) + " keys");
                counts.bytes += key.size();
                if (auto ok = check_limits(child, limits, depth + 1, counts); !ok) return ok;
            }
        } else {
            for (const json& child : v)
                if (auto ok = check_limits(child, limits, depth + 1, counts); !ok) return ok;
        }
    }
    if (counts.bytes > limits.max_bytes)
        return Error(SanitizeErrc::too_large, "more than " + std::to_string(limits.max_bytes) + " bytes of keys and strings");
    return {};
}

/// Walks a document with its path, for both modes.
class Walker {
public:
    Walker(const NoSqlGuardConfig& config, const std::vector<Segments>& patterns)
        : config_(config), patterns_(patterns) {}

    std::optional<NoSqlViolation> first(const json& v) {
        if (is_container(v) && scalar_expected()) return NoSqlViolation{pointer(path_), SanitizeErrc::operator_object};
        if (path_.size() >= config_.limits.max_depth) return std::nullopt;  // bounded recursion; check() refuses deeper
        if (v.is_object()) {
            for (const auto& [key, child] : v.items()) {
                path_.push_back(key);
                if (auto fault = key_fault(key, config_.allow_dots)) return NoSqlViolation{pointer(path_), *fault};
                if (auto found = first(child)) return found;
                path_.pop_back();
            }
        } else if (v.is_array()) {
            std::size_t index = 0;
            for (const json& child : v) {
                path_.push_back(std::to_string(index++));
                if (auto found = first(child)) return found;
                path_.pop_back();
            }
        }
        return std::nullopt;
    }

    /// The cleaned copy of `v`; removals are appended to `removed`.
    json clean(const json& v, std::vector<NoSqlViolation>& removed) {
        if (v.is_object()) {
            json out = json::object();
            for (const auto& [key, child] : v.items()) {
                path_.push_back(key);
                if (auto fault = key_fault(key, config_.allow_dots)) {
                    removed.push_back({pointer(path_), *fault});
                } else if (is_container(child) && scalar_expected()) {
                    removed.push_back({pointer(path_), SanitizeErrc::operator_object});
                } else {
                    out[key] = clean(child, removed);
                }
                path_.pop_back();
            }
            return out;
        }
        if (v.is_array()) {
            json out = json::array();
            std::size_t index = 0;
            for (const json& child : v) {
                path_.push_back(std::to_string(index++));
                if (is_container(child) && scalar_expected()) removed.push_back({pointer(path_), SanitizeErrc::operator_object});
                else out.push_back(clean(child, removed));
                path_.pop_back();
            }
            return out;
        }
        return v;
    }

    bool scalar_expected() const {
        for (const Segments& pattern : patterns_) {
            if (pattern.size() != path_.size()) continue;
            bool match = true;
            for (std::size_t i = 0; match && i < pattern.size(); ++i) match = pattern[i] == "*" || pattern[i] == path_[i];
            if (match) return true;
        }
        return false;
    }

private:
    const NoSqlGuardConfig& config_;
    const std::vector<Segments>& patterns_;
    Segments path_;
};

/// A SAX pass that enforces the limits while parsing, before any tree is built.
class LimitSax {
public:
    explicit LimitSax(const NoSqlLimits& limits) : limits_(limits) {}

    bool null() { return value(); }
    bool boolean(bool) { return value(); }
    bool number_integer(json::number_integer_t) { return value(); }
    bool number_unsigned(json::number_unsigned_t) { return value(); }
    bool number_float(json::number_float_t, const json::string_t&) { return value(); }
    bool string(json::string_t& s) {
        bytes_ += s.size();
        return value() && bytes_ok();
    }
    bool binary(json::binary_t&) { return value(); }
    bool start_object(std::size_t) {
        object_keys_.emplace_back();
        return open();
    }
    bool key(json::string_t& k) {
        bytes_ += k.size();
        if (++keys_ > limits_.max_keys) return fail(Error(SanitizeErrc::too_many_keys, "more than " + std::to_string(limits_.max_keys) + " keys"));
        // A repeated key means two readers can see two documents (most keep the last value, some the
        // first): refused, so what was checked is what is used.
        if (!object_keys_.empty() && !object_keys_.back().insert(k).second)
            return fail(Error(SanitizeErrc::malformed_json, "a key appears twice in one object"));
        return bytes_ok();
    }
    bool end_object() {
        if (!object_keys_.empty()) object_keys_.pop_back();
        return close();
    }
    bool start_array(std::size_t) { return open(); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
        return fail(Error(SanitizeErrc::malformed_json, "not JSON at byte " + std::to_string(position > 0 ? position - 1 : 0)));
    }

    std::optional<Error> error;

private:
    bool fail(Error e) {
        if (!error) error = std::move(e);
        return false;
    }
    bool value() {
        if (++values_ > limits_.max_values) return fail(Error(SanitizeErrc::too_large, "more than " + std::to_string(limits_.max_values) + " values"));
        return true;
    }
    bool bytes_ok() {
        if (bytes_ > limits_.max_bytes)
            return fail(Error(SanitizeErrc::too_large, "more than " + std::to_string(limits_.max_bytes) + " bytes of keys and strings"));
        return true;
    }
    bool open() {
        if (!value()) return false;
        if (++depth_ > limits_.max_depth) return fail(Error(SanitizeErrc::too_deep, "nested deeper than " + std::to_string(limits_.max_depth)));
        return true;
    }
    bool close() {
        --depth_;
        return true;
    }

    const NoSqlLimits& limits_;
    std::size_t depth_ = 0;
    std::size_t bytes_ = 0;
    std::size_t keys_ = 0;
    std::size_t values_ = 0;
    std::vector<std::unordered_set<std::string>> object_keys_;  // the keys of each object open
};

}  // namespace

NoSqlGuard::NoSqlGuard() = default;

Result<NoSqlGuard> NoSqlGuard::create(NoSqlGuardConfig config) {
    const NoSqlLimits& l = config.limits;
    if (l.max_depth == 0 || l.max_depth > kMaxDepthCeiling)
        return Error(ConfigErrc::invalid_value, "limits.max_depth must be between 1 and 512");
    if (l.max_bytes == 0) return Error(ConfigErrc::invalid_value, "limits.max_bytes must be above zero");
    if (l.max_keys == 0) return Error(ConfigErrc::invalid_value, "limits.max_keys must be above zero");
    if (l.max_values == 0) return Error(ConfigErrc::invalid_value, "limits.max_values must be above zero");
    std::vector<Segments> patterns;
    for (const std::string& p : config.scalar_paths) {
        auto segments = split_pointer(p);
        if (!segments) return Error(ConfigErrc::invalid_value, "scalar_paths: '" + printable(p) + "' is not a JSON Pointer");
        patterns.push_back(std::move(*segments));
    }
    return NoSqlGuard(std::move(config), std::move(patterns));
}

Result<nlohmann::json> NoSqlGuard::parse(std::string_view text) const {
    const NoSqlLimits& limits = config_.limits;
    if (text.size() > limits.max_bytes)
        return Error(SanitizeErrc::too_large, "text longer than " + std::to_string(limits.max_bytes) + " bytes");
    // JSON text never holds a raw NUL (inside strings it must be escaped), but nlohmann's reader
    // takes one as the end of the input: without this, "{...}\0anything" would pass as "{...}".
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        return Error(SanitizeErrc::malformed_json, "not JSON at byte " + std::to_string(nul) + " (a NUL byte)");
    LimitSax sax(limits);
    const bool ok = json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json, true, false);
    if (!ok) return sax.error ? *sax.error : Error(SanitizeErrc::malformed_json, "not JSON");
    json document = json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded()) return Error(SanitizeErrc::malformed_json, "not JSON");
    return document;
}

std::optional<NoSqlViolation> NoSqlGuard::find_violation(const nlohmann::json& document) const {
    return Walker(config_, patterns_).first(document);
}

Result<void> NoSqlGuard::check(const nlohmann::json& document) const {
    Counts counts;
    if (auto ok = check_limits(document, config_.limits, 0, counts); !ok) return ok;
    if (auto violation = find_violation(document)) {
        std::string detail = "at ";
        detail += violation->path.empty() ? std::string("the document root") : printable(violation->path);
        detail += ": ";
        detail += make_error_code(violation->reason).message();
        return Error(violation->reason, std::move(detail));
    }
    return {};
}

Result<CleanedDocument> NoSqlGuard::clean(const nlohmann::json& document) const {
    Counts counts;
    if (auto ok = check_limits(document, config_.limits, 0, counts); !ok) return ok.error();
    CleanedDocument out;
    Walker walker(config_, patterns_);
    if (is_container(document) && walker.scalar_expected()) {
        out.removed.push_back({"", SanitizeErrc::operator_object});
        return out;  // document stays null
    }
    out.document = walker.clean(document, out.removed);
    return out;
}

}  // namespace heroshhi::sanitize
