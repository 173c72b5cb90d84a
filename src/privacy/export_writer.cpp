#include "detail/export_writer.hpp"

#include <heroshhi/sanitize/csv.hpp>
#include <heroshhi/sanitize/utf8.hpp>

#include <nlohmann/json.hpp>

namespace heroshhi::privacy::detail {

std::string valid_utf8(std::string_view text) {
    std::string out;
    while (auto fault = sanitize::find_utf8_fault(text)) {
        out.append(text.substr(0, fault->offset));
        out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per bad byte
        text.remove_prefix(fault->offset + 1);
    }
    out.append(text);
    return out;
}

void append_cell(std::string& out, std::string_view cell) {
    if (!sanitize::find_utf8_fault(cell)) sanitize::append_csv_cell(out, cell);
    else sanitize::append_csv_cell(out, valid_utf8(cell));
}

bool ChunkedSink::flush() {
    if (ok_ && !buffer_.empty()) ok_ = sink_(buffer_);
    buffer_.clear();
    return ok_;
}

namespace {

class JsonWriter final : public ExportWriter {
public:
    explicit JsonWriter(const Sink& sink) : out_(sink) {}

    void begin(std::span<const Field> meta) override {
        out_.buffer() += '{';
        for (const Field& f : meta) {
            key(f.name);
            put(f.value);
        }
    }
    void section(std::string_view name, bool single) override {
        key(name);
        single_ = single;
        records_ = 0;
        if (!single) out_.buffer() += '[';
    }
    void record(std::string_view, std::span<const Field> fields) override {
        if (records_++ > 0) out_.buffer() += ',';
        out_.buffer() += '{';
        bool first = true;
        for (const Field& f : fields) {
            if (!first) out_.buffer() += ',';
            first = false;
            string(f.name);
            out_.buffer() += ':';
            put(f.value);
        }
        out_.buffer() += '}';
        out_.maybe_flush();
    }
    void end_section() override {
        if (!single_) out_.buffer() += ']';
        else if (records_ == 0) out_.buffer() += "null";
    }
    bool end() override {
        out_.buffer() += "}\n";
        return out_.flush();
    }
    bool ok() const override { return out_.ok(); }

private:
    void key(std::string_view name) {
        if (members_++ > 0) out_.buffer() += ',';
        string(name);
        out_.buffer() += ':';
    }
    void string(std::string_view s) {
        // nlohmann escapes as JSON requires; bad UTF-8 becomes U+FFFD instead of throwing.
        out_.buffer() += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    void put(const Value& v) {
        switch (v.kind) {
            case Value::Kind::text: string(v.text); break;
            case Value::Kind::integer: out_.buffer() += std::to_string(v.integer); break;
            case Value::Kind::boolean: out_.buffer() += v.boolean ? "true" : "false"; break;
            case Value::Kind::null: out_.buffer() += "null"; break;
        }
    }

    ChunkedSink out_;
    std::size_t members_ = 0;
    std::size_t records_ = 0;
    bool single_ = false;
};

class CsvWriter final : public ExportWriter {
public:
    explicit CsvWriter(const Sink& sink) : out_(sink) {}

    void begin(std::span<const Field> meta) override {
        out_.buffer() += "section,record,field,value\r\n";
        for (const Field& f : meta) row("export", "", f.name, f.value);
    }
    void section(std::string_view name, bool) override { section_ = name; }
    void record(std::string_view id, std::span<const Field> fields) override {
        for (const Field& f : fields) row(section_, id, f.name, f.value);
        out_.maybe_flush();
    }
    void end_section() override {}
    bool end() override { return out_.flush(); }
    bool ok() const override { return out_.ok(); }

private:
    void row(std::string_view section, std::string_view id, std::string_view field, const Value& v) {
        std::string& b = out_.buffer();
        sanitize::append_csv_cell(b, section);
        b += ',';
        append_cell(b, id);
        b += ',';
        sanitize::append_csv_cell(b, field);
        b += ',';
        switch (v.kind) {
            case Value::Kind::text: append_cell(b, v.text); break;
            case Value::Kind::integer: sanitize::append_csv_cell(b, std::to_string(v.integer)); break;
            case Value::Kind::boolean: b += v.boolean ? "true" : "false"; break;
            case Value::Kind::null: break;
        }
        b += "\r\n";
    }

    ChunkedSink out_;
    std::string section_;
};

}  // namespace

std::unique_ptr<ExportWriter> ExportWriter::make(ExportFormat format, const Sink& sink) {
    if (format == ExportFormat::json) return std::make_unique<JsonWriter>(sink);
    return std::make_unique<CsvWriter>(sink);
}

}  // namespace heroshhi::privacy::detail
