// heroshhi — CSV export: RFC 4180 cells that a spreadsheet opens as data, never as a formula.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include <heroshhi/core/result.hpp>

namespace heroshhi::sanitize {

/// Appends one cell to `out`, RFC 4180 style, neutralised against CSV (formula) injection:
///   - a cell beginning with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so that
///     Excel, LibreOffice and Google Sheets show it as text and never evaluate it (OWASP's CSV
///     Injection advice). This includes "+14155550123": an exported E.164 number reads
///     "'+14155550123" in a text editor and "+14155550123" as text in a spreadsheet;
///   - a cell containing `,` `"` CR or LF, or neutralised, is put in double quotes with every `"`
///     doubled.
/// Bytes are copied otherwise (no separator is added). Never throws except std::bad_alloc.
void append_csv_cell(std::string& out, std::string_view cell);

/// The cell as append_csv_cell writes it.
std::string csv_cell(std::string_view cell);

/// True when append_csv_cell would prefix the cell with `'`.
bool csv_cell_needs_neutralising(std::string_view cell) noexcept;

/// Builds a CSV document: UTF-8, CRLF line ends (RFC 4180), every row as wide as the header.
///
///     CsvWriter csv({"name", "phone"});
///     csv.row({lead.name, lead.phone});   // checked: UTF-8, column count
///     send(csv.str());
///
/// Not thread-safe (one writer per export).
class CsvWriter {
public:
    /// Starts a document with `header` as its first row. `byte_order_mark` puts U+FEFF first,
    /// which Excel needs to read UTF-8 (other tools ignore it). The header goes through the same
    /// neutralisation as any row.
    explicit CsvWriter(std::span<const std::string_view> header, bool byte_order_mark = false);
    CsvWriter(std::initializer_list<std::string_view> header, bool byte_order_mark = false)
        : CsvWriter(std::span<const std::string_view>(header.begin(), header.size()), byte_order_mark) {}

    /// Appends a row. Fails, writing nothing, with SanitizeErrc::column_count when it has another
    /// number of cells than the header, or invalid_utf8 when a cell is not UTF-8 (the detail names
    /// the column number, from 1).
    Result<void> row(std::span<const std::string_view> cells);
    Result<void> row(std::initializer_list<std::string_view> cells) {
        return row(std::span<const std::string_view>(cells.begin(), cells.size()));
    }

    std::size_t columns() const noexcept { return columns_; }
    std::size_t rows() const noexcept { return rows_; }  ///< rows written after the header
    const std::string& str() const& noexcept { return out_; }
    std::string take() && noexcept { return std::move(out_); }

private:
    void write(std::span<const std::string_view> cells);

    std::string out_;
    std::size_t columns_;
    std::size_t rows_ = 0;
};

}  // namespace heroshhi::sanitize
