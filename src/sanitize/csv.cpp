#include <heroshhi/sanitize/csv.hpp>

#include <heroshhi/sanitize/errors.hpp>
#include <heroshhi/sanitize/utf8.hpp>

namespace heroshhi::sanitize {

bool csv_cell_needs_neutralising(std::string_view cell) noexcept {
    if (cell.empty()) return false;
    switch (cell.front()) {
        case '=': case '+': case '-': case '@': case '\t': case '\r':
            return true;
        default:
            return false;
    }
}

void append_csv_cell(std::string& out, std::string_view cell) {
    const bool neutralise = csv_cell_needs_neutralising(cell);
    const bool quote = neutralise || cell.find_first_of(",\"\r\n") != std::string_view::npos;
    if (!quote) {
        out.append(cell);
        return;
    }
    out += '"';
    if (neutralise) out += '\'';
    for (std::size_t start = 0;;) {
        const std::size_t q = cell.find('"', start);
        if (q == std::string_view::npos) {
            out.append(cell.substr(start));
            break;
        }
        out.append(cell.substr(start, q + 1 - start));
        out += '"';
        start = q + 1;
    }
    out += '"';
}

std::string csv_cell(std::string_view cell) {
    std::string out;
    append_csv_cell(out, cell);
    return out;
}

CsvWriter::CsvWriter(std::span<const std::string_view> header, bool byte_order_mark) : columns_(header.size()) {
    if (byte_order_mark) out_ = "\xEF\xBB\xBF";
    write(header);
}

Result<void> CsvWriter::row(std::span<const std::string_view> cells) {
    if (cells.size() != columns_)
        return Error(SanitizeErrc::column_count, "row has " + std::to_string(cells.size()) + " cells, the header " +
                                                     std::to_string(columns_));
    for (std::size_t i = 0; i < cells.size(); ++i)
        if (auto ok = validate_utf8(cells[i], "column " + std::to_string(i + 1)); !ok) return ok;
    write(cells);
    ++rows_;
    return {};
}

void CsvWriter::write(std::span<const std::string_view> cells) {
    // A lone empty cell would make an empty line, which many readers skip: quote it.
    if (cells.size() == 1 && cells[0].empty()) {
        out_ += "\"\"\r\n";
        return;
    }
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i != 0) out_ += ',';
        append_csv_cell(out_, cells[i]);
    }
    out_ += "\r\n";
}

}  // namespace heroshhi::sanitize
