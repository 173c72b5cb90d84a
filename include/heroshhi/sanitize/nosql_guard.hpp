// heroshhi — NoSqlGuard: refuses (or strips) the parts of an untrusted JSON document that could
// turn into a MongoDB-style query operator, a path into another field, or prototype pollution in a
// JavaScript consumer, and bounds the document's size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <heroshhi/core/result.hpp>
#include <heroshhi/sanitize/errors.hpp>

namespace heroshhi::sanitize {

/// Bounds on one document. Every limit is checked in both modes: a document over a limit is
/// refused whole, never cut down.
struct NoSqlLimits {
    /// Nesting of objects and arrays; a scalar document has depth 0, `{}` 1, `{"a":[1]}` 2.
    /// At most 512 (the checks recurse).
    std::size_t max_depth = 32;
    /// NoSqlGuard::parse: the length of the text. check/clean: the bytes of every key and string
    /// value together (what the document carries).
    std::size_t max_bytes = 1 << 20;
    /// Object members in the whole document.
    std::size_t max_keys = 10'000;
    /// Values in the whole document (each scalar, object and array counts one).
    std::size_t max_values = 100'000;
};

/// What the guard looks for, besides the limits.
struct NoSqlGuardConfig {
    NoSqlLimits limits;
    /// Allow '.' inside keys. Off by default: MongoDB reads "a.b" as a path into another field.
    /// Keys beginning with '$' and prototype keys are refused regardless.
    bool allow_dots = false;
    /// Places where the application expects a scalar (string, number, boolean or null), as JSON
    /// Pointers (RFC 6901) in which a `*` segment matches any key or array index: "/password",
    /// "/*" (every top-level member), "/contacts/*/phone". An object or array found there is an
    /// operator object ({"$ne": null}, {"$gt": ""}, ["a", "b"] for `$in`-style matching).
    std::vector<std::string> scalar_paths;
};

/// One finding: where it is and which rule it breaks.
struct NoSqlViolation {
    /// JSON Pointer (RFC 6901) of the offending member or element in the input document, e.g.
    /// "/filter/0/$where" ("~" is written "~0" and "/" "~1"). "" is the whole document.
    std::string path;
    /// operator_key, dotted_key, prototype_key or operator_object (too_deep, too_large,
    /// too_many_keys only come back as errors).
    SanitizeErrc reason = SanitizeErrc::operator_key;
};

/// The lenient mode's answer: a copy without the offending members, and what was taken out.
struct CleanedDocument {
    nlohmann::json document;
    std::vector<NoSqlViolation> removed;  ///< in key order; a removed member's inner findings are not listed
};

/// Guards untrusted JSON (webhook bodies, API filters, form submissions) before any part of it
/// reaches a query or a JavaScript consumer.
///
/// Rules, applied to every object at any depth, inside arrays as well:
///   - a key beginning with '$' (`$ne`, `$where`, `$regex`, ...) is an operator key;
///   - a key containing '.' is a dotted key (unless allow_dots);
///   - a key equal to `__proto__`, `constructor` or `prototype` is a prototype key;
///   - an object or array at one of the configured scalar_paths is an operator object.
/// Values are not inspected: "$100" as a string value is data, not an operator.
///
/// Two modes. Strict (check) refuses the document at the first finding. Lenient (clean) returns
/// a copy with each offending member (key and value) or array element removed and lists them.
/// Both refuse a document over a limit (too_deep, too_large, too_many_keys) outright.
///
/// Immutable after creation; safe to use from many threads at once.
class NoSqlGuard {
public:
    /// The default configuration (no scalar paths).
    NoSqlGuard();

    /// Checks the configuration: max_depth at most 512, every limit above zero, every scalar path
    /// a JSON Pointer ("" or beginning with '/', "~" only as "~0"/"~1"). Fails with
    /// ConfigErrc::invalid_value naming the setting.
    static Result<NoSqlGuard> create(NoSqlGuardConfig config);

    /// Parses `text` as JSON, enforcing the limits while parsing (so a hostile text never becomes
    /// a large or deep tree). Fails with malformed_json, too_large, too_deep, too_many_keys. Does
    /// not apply the key rules: follow with check() or clean(). Throws only std::bad_alloc.
    Result<nlohmann::json> parse(std::string_view text) const;

    /// Strict mode: success when the document breaks no rule and no limit. Otherwise the error's
    /// code is the rule and its detail names the JSON Pointer, e.g. "at /username: key begins with
    /// '$'" (control characters in keys are shown as \xHH). Throws only std::bad_alloc.
    Result<void> check(const nlohmann::json& document) const;

    /// The first finding (objects are visited in key order), or nullopt. The limits are not
    /// checked here, and nothing deeper than max_depth is visited: use check() for both.
    std::optional<NoSqlViolation> find_violation(const nlohmann::json& document) const;

    /// Lenient mode: a copy without the offending members, and the list of what was removed.
    /// Fails only for a document over a limit. The copy always passes check(). Throws only
    /// std::bad_alloc.
    Result<CleanedDocument> clean(const nlohmann::json& document) const;

    const NoSqlGuardConfig& config() const noexcept { return config_; }

private:
    explicit NoSqlGuard(NoSqlGuardConfig config, std::vector<std::vector<std::string>> patterns)
        : config_(std::move(config)), patterns_(std::move(patterns)) {}

    NoSqlGuardConfig config_;
    std::vector<std::vector<std::string>> patterns_;  // scalar_paths split into unescaped segments
};

}  // namespace heroshhi::sanitize
