// heroshhi — internal: the two shapes of an access export (JSON, long-form CSV), written through a
// Sink in chunks so that memory holds at most one chunk and one record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <heroshhi/privacy/rights.hpp>

namespace heroshhi::privacy::detail {

/// One value of an exported field.
struct Value {
    enum class Kind { text, integer, boolean, null };
    Kind kind = Kind::null;
    std::string text;
    std::int64_t integer = 0;
    bool boolean = false;

    static Value of(std::string s) { return {Kind::text, std::move(s), 0, false}; }
    static Value of(std::int64_t n) { return {Kind::integer, {}, n, false}; }
    static Value flag(bool b) { return {Kind::boolean, {}, 0, b}; }
    static Value none() { return {}; }
};

struct Field {
    std::string_view name;
    Value value;
};

/// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD (stored data passed the
/// intake checks, but an export must not fail on a damaged value).
std::string valid_utf8(std::string_view text);

/// sanitize::append_csv_cell of valid_utf8(cell), without a copy when the cell is valid.
void append_cell(std::string& out, std::string_view cell);

/// Buffers output and hands it to the sink in chunks of about 64 KiB.
class ChunkedSink {
public:
    explicit ChunkedSink(const Sink& sink) : sink_(sink) {}
    std::string& buffer() noexcept { return buffer_; }
    /// Flushes when the buffer is full. False once the sink refused a chunk.
    bool maybe_flush() { return buffer_.size() < chunk_size ? ok_ : flush(); }
    bool flush();
    bool ok() const noexcept { return ok_; }

private:
    static constexpr std::size_t chunk_size = 64 * 1024;
    const Sink& sink_;
    std::string buffer_;
    bool ok_ = true;
};

/// Writes sections of records: JSON (an object of arrays) or CSV (section,record,field,value).
class ExportWriter {
public:
    virtual ~ExportWriter() = default;
    /// The document's own fields (format, tenant, ...).
    virtual void begin(std::span<const Field> meta) = 0;
    /// Starts a section; `single`: one record (a JSON object, or null when none comes).
    virtual void section(std::string_view name, bool single) = 0;
    /// One record; `id` names it in the CSV form.
    virtual void record(std::string_view id, std::span<const Field> fields) = 0;
    virtual void end_section() = 0;
    /// Finishes the document and flushes. False if the sink refused any of it.
    virtual bool end() = 0;
    /// False once the sink refused a chunk: stop writing.
    virtual bool ok() const = 0;

    static std::unique_ptr<ExportWriter> make(ExportFormat format, const Sink& sink);
};

}  // namespace heroshhi::privacy::detail
