// Policy documents: reading (strict: every unknown key or name is an error with its JSON path)
// and writing.
#include <heroshhi/rbac/policy.hpp>

#include <heroshhi/core/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace heroshhi::rbac {
namespace {

using nlohmann::json;

constexpr std::size_t max_document_bytes = 1 << 20;

std::string json_quoted(std::string_view s) {
    std::string out = json(std::string(s)).dump(-1, ' ', true, json::error_handler_t::replace);
    if (out.size() > 80) out = out.substr(0, 77) + "...";
    return out;
}

template <class Enum, std::size_t N>
std::string known_names(const std::array<Enum, N>& all) {
    std::string out;
    for (Enum e : all) {
        if (!out.empty()) out += ", ";
        out += to_string(e);
    }
    return out;
}

/// Reads a list of enum names ("*" alone means all) at `path`.
template <class Enum, std::size_t N>
Result<std::vector<Enum>> read_names(const json& value, const std::string& path, const char* what,
                                     const std::array<Enum, N>& all,
                                     std::optional<Enum> (*from_string)(std::string_view) noexcept) {
    if (!value.is_array()) return Error(ConfigErrc::malformed, path + ": expected an array of " + what + " names");
    std::vector<Enum> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!value[i].is_string()) return Error(ConfigErrc::malformed, item_path + ": expected a string");
        const auto& name = value[i].get_ref<const std::string&>();
        if (name == "*") {
            if (value.size() != 1)
                return Error(ConfigErrc::invalid_value, item_path + ": \"*\" means every " + what + " and stands alone");
            return std::vector<Enum>(all.begin(), all.end());
        }
        auto parsed = from_string(name);
        if (!parsed)
            return Error(ConfigErrc::invalid_value, item_path + ": unknown " + what + " " + json_quoted(name) +
                                                        " (known: " + known_names(all) + ")");
        out.push_back(*parsed);
    }
    if (out.empty()) return Error(ConfigErrc::invalid_value, path + ": names no " + std::string(what));
    return out;
}

Result<std::string> read_string(const json& object, const char* key, const std::string& path, bool required) {
    auto it = object.find(key);
    if (it == object.end()) {
        if (required) return Error(ConfigErrc::missing, path + ": \"" + key + "\" is missing");
        return std::string();
    }
    if (!it->is_string()) return Error(ConfigErrc::malformed, path + "." + key + ": expected a string");
    return it->get<std::string>();
}

Result<Rule> read_rule(const json& value, const std::string& path) {
    if (!value.is_object()) return Error(ConfigErrc::malformed, path + ": expected an object");
    for (const auto& [key, ignored] : value.items()) {
        (void)ignored;
        if (key != "name" && key != "effect" && key != "roles" && key != "resources" && key != "actions" &&
            key != "when" && key != "description")
            return Error(ConfigErrc::invalid_value,
                         path + ": unknown key " + json_quoted(key) +
                             " (known: name, effect, roles, resources, actions, when, description)");
    }
    Rule rule;
    auto name = read_string(value, "name", path, true);
    if (!name) return name.error();
    rule.name = std::move(name).value();
    auto effect = read_string(value, "effect", path, true);
    if (!effect) return effect.error();
    auto parsed_effect = effect_from_string(*effect);
    if (!parsed_effect)
        return Error(ConfigErrc::invalid_value,
                     path + ".effect: unknown effect " + json_quoted(*effect) + " (known: allow, deny)");
    rule.effect = *parsed_effect;
    for (const char* key : {"roles", "resources", "actions"})
        if (!value.contains(key)) return Error(ConfigErrc::missing, path + ": \"" + key + "\" is missing");
    auto roles = read_names(value["roles"], path + ".roles", "role", all_roles, &role_from_string);
    if (!roles) return roles.error();
    rule.roles = std::move(roles).value();
    auto types = read_names(value["resources"], path + ".resources", "resource type", all_resource_types,
                            &resource_type_from_string);
    if (!types) return types.error();
    rule.resources = std::move(types).value();
    auto actions = read_names(value["actions"], path + ".actions", "action", all_actions, &action_from_string);
    if (!actions) return actions.error();
    rule.actions = std::move(actions).value();
    auto when = read_string(value, "when", path, false);
    if (!when) return when.error();
    if (!when->empty()) {
        auto condition = condition_from_string(*when);
        if (!condition)
            return Error(ConfigErrc::invalid_value, path + ".when: unknown condition " + json_quoted(*when) +
                                                        " (known: always, assigned_to_self, same_team, self)");
        rule.when = *condition;
    }
    auto description = read_string(value, "description", path, false);
    if (!description) return description.error();
    rule.description = std::move(description).value();
    return rule;
}

template <class Enum, std::size_t N>
json names(const std::vector<Enum>& values, const std::array<Enum, N>& all) {
    bool every = true;
    for (Enum e : all) every = every && std::find(values.begin(), values.end(), e) != values.end();
    json out = json::array();
    if (every) {
        out.push_back("*");
        return out;
    }
    for (Enum e : values) out.push_back(std::string(to_string(e)));
    return out;
}

}  // namespace

Result<Policy> Policy::from_json(std::string_view text) {
    if (text.size() > max_document_bytes)
        return Error(ConfigErrc::malformed, "the policy document is larger than 1 MiB");
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        return Error(ConfigErrc::malformed, std::string("the policy is not valid JSON: ") + e.what());
    }
    if (!doc.is_object()) return Error(ConfigErrc::malformed, "the policy document must be a JSON object");
    for (const auto& [key, ignored] : doc.items()) {
        (void)ignored;
        if (key != "revision" && key != "rules")
            return Error(ConfigErrc::invalid_value, "unknown key " + json_quoted(key) + " (known: revision, rules)");
    }
    auto revision = read_string(doc, "revision", "policy", true);
    if (!revision) return revision.error();
    if (!doc.contains("rules")) return Error(ConfigErrc::missing, "policy: \"rules\" is missing");
    const json& list = doc["rules"];
    if (!list.is_array()) return Error(ConfigErrc::malformed, "rules: expected an array of rules");
    if (list.size() > max_rules)
        return Error(ConfigErrc::invalid_value, "rules: at most " + std::to_string(max_rules) + " rules");
    std::vector<Rule> rules;
    rules.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto rule = read_rule(list[i], "rules[" + std::to_string(i) + "]");
        if (!rule) return rule.error();
        rules.push_back(std::move(rule).value());
    }
    return create(std::move(revision).value(), std::move(rules));
}

std::string Policy::to_json() const {
    json rules = json::array();
    for (const Rule& r : rules_) {
        json rule = {{"name", r.name},
                     {"effect", std::string(rbac::to_string(r.effect))},
                     {"roles", names(r.roles, all_roles)},
                     {"resources", names(r.resources, all_resource_types)},
                     {"actions", names(r.actions, all_actions)}};
        if (r.when != Condition::always) rule["when"] = std::string(rbac::to_string(r.when));
        if (!r.description.empty()) rule["description"] = r.description;
        rules.push_back(std::move(rule));
    }
    json doc = {{"revision", revision_}, {"rules", std::move(rules)}};
    return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace heroshhi::rbac
