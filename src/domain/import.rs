//! Reading a member list from a spreadsheet (issue 15, point 2): a CSV, or a LibreOffice or
//! Excel file (.ods, .xlsx, .xls, read by `calamine`), into one [`MemberRow`] per line or the
//! problems of that line, each naming its column. Pure: no storage, no words for people (the
//! page says each [`Problem`] and [`Column`] in French or English).
//!
//! Columns are found by their header, in French or English, case, accents, spaces and
//! punctuation ignored (`Date d'adhésion` is `datedadhesion`); unknown columns are ignored and
//! listed. Bounds: [`MAX_FILE_BYTES`] and [`MAX_ROWS`]; beyond either the file is refused whole.

use chrono::{Datelike, NaiveDate};

use super::Cents;

/// The largest file read: a list of 5,000 members is about 400 kB as CSV and 200 kB as .xlsx.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The most member lines a file may have (funds have 30 to 450 members).
pub const MAX_ROWS: usize = 5_000;
/// The most columns a line may have (a spreadsheet's stray cells far right are ignored beyond).
const MAX_COLUMNS: usize = 64;
/// The longest cell kept, in characters (a name is at most 200).
const MAX_CELL_CHARS: usize = 1_000;

/// One cell as read from the file.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A number cell of a spreadsheet, kept as the spreadsheet's shortest decimal writing
    /// (`1234.5`) so that money never goes through a float sum.
    Number(String),
    /// A date cell: days since 1899-12-30, the spreadsheet's serial.
    DateSerial(f64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Empty | Cell::DateSerial(_) => String::new(),
            Cell::Text(s) | Cell::Number(s) => s.trim().to_string(),
        }
    }

    fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// The columns the import knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Name,
    FirstName,
    Adults,
    Children,
    Income,
    ChosenContribution,
    Email,
    Phone,
    JoinedOn,
}

impl Column {
    pub const ALL: &'static [Column] = &[
        Column::Name,
        Column::FirstName,
        Column::Adults,
        Column::Children,
        Column::Income,
        Column::ChosenContribution,
        Column::Email,
        Column::Phone,
        Column::JoinedOn,
    ];

    /// The column a header names, if any.
    pub fn from_header(header: &str) -> Option<Column> {
        let h = fold(header);
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| h.starts_with(p));
        Some(match h.as_str() {
            "nom" | "name" | "nomcomplet" | "fullname" | "nometprenom" | "lastname"
            | "nomdefamille" => Column::Name,
            "prenom" | "firstname" | "givenname" => Column::FirstName,
            "email" | "mail" | "courriel" | "adresseemail" | "emailaddress" | "adressemail" => {
                Column::Email
            }
            "telephone" | "phone" | "tel" | "portable" | "mobile" | "phonenumber" => Column::Phone,
            _ if starts(&["adulte", "adult", "nombredadulte", "nbadulte"]) => Column::Adults,
            _ if starts(&["enfant", "children", "child", "nombredenfant", "nbenfant"]) => {
                Column::Children
            }
            _ if starts(&["revenu", "income", "monthlyincome"]) => Column::Income,
            _ if starts(&["cotisation", "chosencontribution", "contribution"]) => {
                Column::ChosenContribution
            }
            _ if starts(&[
                "datedadhesion",
                "dateadhesion",
                "adhesion",
                "dateofjoining",
                "joined",
                "datedentree",
            ]) =>
            {
                Column::JoinedOn
            }
            _ => return None,
        })
    }
}

/// A header folded for matching: lower case, accents dropped, only letters and digits kept.
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// What is wrong with one cell, or with a line as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A required cell is empty (the name).
    Missing,
    /// Not a whole number of zero or more (a count of people).
    NotACount,
    /// Not an amount in euros (`1 234,50`, `1234.50`, `1234,50 €`).
    NotAnAmount,
    /// Not a date (`JJ/MM/AAAA`, `AAAA-MM-JJ` or a date cell).
    NotADate,
    /// Read, but refused by the rules of a member (a malformed email, a household too large,
    /// a chosen contribution below the fund's minimum).
    Refused,
    /// The same person (same email, or same name without email) is on an earlier line.
    DuplicateOf { line: usize },
    /// The fund already has this person (same email, or same name without email).
    AlreadyMember { number: i64 },
}

/// A problem of a line, with the column at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    pub column: Column,
    pub problem: Problem,
}

/// A member line, read but not yet checked against the rules of a member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberRow {
    pub full_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Absent or blank: one adult (the member), no child.
    pub adults: Option<i64>,
    pub children: Option<i64>,
    pub monthly_income: Option<Cents>,
    pub chosen_contribution: Option<Cents>,
    /// Absent or blank: the day of the import.
    pub joined_on: Option<NaiveDate>,
}

/// One line of the file: its number as the spreadsheet shows it (the header is line 1 when it
/// is the first), and what was read from it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedRow {
    pub line: usize,
    /// What could be read (a cell with a problem is left out of it).
    pub read: MemberRow,
    /// The cells that could not be read; none when the line is good.
    pub problems: Vec<RowProblem>,
}

/// The file read: one entry per non-blank line after the header.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub rows: Vec<ParsedRow>,
    /// Headers that name no known column, as written.
    pub ignored_columns: Vec<String>,
}

/// Why a file is refused whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the file has more than {max} lines")]
    TooManyRows { max: usize },
    #[error("the file is neither a CSV nor a spreadsheet that can be read")]
    Unreadable,
    #[error("the file has no line")]
    Empty,
    #[error("no column of names (nom, name)")]
    NoNameColumn,
    #[error("the column {0:?} appears twice")]
    DuplicateColumn(String),
    #[error("a quote is not closed from line {line}")]
    UnclosedQuote { line: usize },
}

/// Decodes a text file: UTF-8 with or without BOM, else Windows-1252 (what French Excel
/// exports as "CSV (séparateur: point-virgule)"); any byte sequence decodes to something.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// Windows-1252 is Latin-1 but for 0x80..=0x9F, where it puts €, œ, curly quotes and dashes.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        b => char::from(b),
    }
}

/// Splits CSV text into lines of cells, with the separator (`;`, `,` or tab) that the first
/// line uses most; fields may be quoted (`"..."`, `""` for a quote). Refused beyond
/// [`MAX_ROWS`] lines.
pub fn split_csv(text: &str) -> Result<Vec<Vec<Cell>>, FileError> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let sep = [';', ',', '\t']
        .into_iter()
        .max_by_key(|s| first.matches(*s).count())
        .unwrap_or(';');
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut row: Vec<Cell> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut quote_line = 0;
    let mut chars = text.chars().peekable();
    let push_field = |row: &mut Vec<Cell>, field: &mut String| {
        let f = std::mem::take(field);
        if row.len() < MAX_COLUMNS {
            row.push(if f.trim().is_empty() {
                Cell::Empty
            } else {
                Cell::Text(f.chars().take(MAX_CELL_CHARS).collect())
            });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            }
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quote_line = rows.len() + 1;
            }
            '\r' if !in_quotes => {}
            '\n' if !in_quotes => {
                push_field(&mut row, &mut field);
                rows.push(std::mem::take(&mut row));
                if rows.len() > MAX_ROWS + 1 {
                    return Err(FileError::TooManyRows { max: MAX_ROWS });
                }
            }
            c if c == sep && !in_quotes => push_field(&mut row, &mut field),
            c => {
                if field.len() <= MAX_CELL_CHARS * 4 {
                    field.push(c);
                }
            }
        }
    }
    if in_quotes {
        return Err(FileError::UnclosedQuote { line: quote_line });
    }
    if !field.is_empty() || !row.is_empty() {
        push_field(&mut row, &mut field);
        rows.push(row);
    }
    Ok(rows)
}

/// Reads a member list from a file's bytes: a spreadsheet (.ods, .xlsx, .xls: its first
/// sheet) when the bytes are one, else CSV text.
pub fn read_file(bytes: &[u8], file_name: &str) -> Result<Parsed, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            max: MAX_FILE_BYTES,
        });
    }
    // A zip (.xlsx, .ods) or an OLE compound file (.xls) by its first bytes, whatever its name.
    let spreadsheet = bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"\xD0\xCF\x11\xE0")
        || [".xlsx", ".xls", ".ods"]
            .iter()
            .any(|e| file_name.to_lowercase().ends_with(e));
    if !spreadsheet {
        return parse_rows(&split_csv(&decode_text(bytes))?, 1);
    }
    let (first_line, rows) = spreadsheet_rows(bytes)?;
    parse_rows(&rows, first_line)
}

/// The cells of the first sheet, with the line number of its first row.
fn spreadsheet_rows(bytes: &[u8]) -> Result<(usize, Vec<Vec<Cell>>), FileError> {
    use calamine::Reader;
    if let Ok(mut book) = calamine::Xlsx::new(std::io::Cursor::new(bytes)) {
        return xlsx_rows(&mut book);
    }
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|_| FileError::Unreadable)?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(FileError::Empty)?
        .map_err(|_| FileError::Unreadable)?;
    if range.height() > MAX_ROWS + 1 {
        return Err(FileError::TooManyRows { max: MAX_ROWS });
    }
    let first_line = range.start().map_or(0, |(row, _)| row as usize) + 1;
    let rows = range
        .rows()
        .map(|r| r.iter().take(MAX_COLUMNS).map(cell_of).collect())
        .collect();
    Ok((first_line, rows))
}

/// The first sheet of an .xlsx, cell by cell: calamine's `worksheet_range` would allocate the
/// whole rectangle between the first and the last cell, 17 billion cells for a file of two
/// (A1 and XFD1048576), so the cells are streamed and only [`MAX_ROWS`] lines (and a few blank
/// ones above the header) of [`MAX_COLUMNS`] columns are kept.
fn xlsx_rows<RS: std::io::Read + std::io::Seek>(
    book: &mut calamine::Xlsx<RS>,
) -> Result<(usize, Vec<Vec<Cell>>), FileError> {
    use calamine::{DataRef, Reader};
    const BLANK_ABOVE: usize = 64;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(FileError::Empty)?;
    let mut reader = book
        .worksheet_cells_reader(&name)
        .map_err(|_| FileError::Unreadable)?;
    let mut cells: Vec<(usize, usize, Cell)> = Vec::new();
    while let Some(c) = reader.next_cell().map_err(|_| FileError::Unreadable)? {
        let (row, col) = c.get_position();
        let (row, col) = (row as usize, col as usize);
        let value = match c.get_value() {
            DataRef::SharedString(s) => Cell::Text(s.chars().take(MAX_CELL_CHARS).collect()),
            DataRef::Empty => continue,
            other => cell_of(&calamine::Data::from(other.clone())),
        };
        if col >= MAX_COLUMNS || value.is_blank() {
            continue;
        }
        if row > MAX_ROWS + BLANK_ABOVE {
            return Err(FileError::TooManyRows { max: MAX_ROWS });
        }
        cells.push((row, col, value));
    }
    let first = cells.iter().map(|c| c.0).min().unwrap_or(0);
    let last = cells.iter().map(|c| c.0).max().unwrap_or(0);
    let mut rows = vec![Vec::new(); last + 1 - first];
    for (row, col, value) in cells {
        let r: &mut Vec<Cell> = &mut rows[row - first];
        if r.len() <= col {
            r.resize(col + 1, Cell::Empty);
        }
        r[col] = value;
    }
    Ok((first + 1, rows))
}

/// A spreadsheet cell as the import reads it.
fn cell_of(d: &calamine::Data) -> Cell {
    use calamine::Data;
    match d {
        Data::Empty | Data::Error(_) => Cell::Empty,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            Cell::Text(s.chars().take(MAX_CELL_CHARS).collect())
        }
        Data::Int(i) => Cell::Number(i.to_string()),
        Data::Float(f) => Cell::Number(f.to_string()),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(d) => Cell::DateSerial(d.as_f64()),
    }
}

/// Reads the lines of cells of a file (the first is line `first_line`): the header, then one
/// member per line.
pub fn parse_rows(rows: &[Vec<Cell>], first_line: usize) -> Result<Parsed, FileError> {
    let mut lines = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.iter().all(Cell::is_blank));
    let (_, header) = lines.next().ok_or(FileError::Empty)?;
    let mut columns: Vec<Option<Column>> = Vec::new();
    let mut ignored_columns = Vec::new();
    for cell in header {
        let h = cell.text();
        let column = Column::from_header(&h);
        if column.is_some() && columns.contains(&column) {
            return Err(FileError::DuplicateColumn(h));
        }
        if column.is_none() && !h.is_empty() {
            ignored_columns.push(h);
        }
        columns.push(column);
    }
    if !columns.contains(&Some(Column::Name)) {
        return Err(FileError::NoNameColumn);
    }
    let mut parsed = Vec::new();
    for (index, cells) in lines {
        if parsed.len() >= MAX_ROWS {
            return Err(FileError::TooManyRows { max: MAX_ROWS });
        }
        parsed.push(parse_row(first_line + index, &columns, cells));
    }
    Ok(Parsed {
        rows: parsed,
        ignored_columns,
    })
}

/// One member line: each known column read, every problem kept.
fn parse_row(line: usize, columns: &[Option<Column>], cells: &[Cell]) -> ParsedRow {
    let mut row = MemberRow::default();
    let mut first_name = String::new();
    let mut problems = Vec::new();
    for (column, cell) in columns.iter().zip(cells) {
        let Some(column) = *column else { continue };
        if cell.is_blank() {
            continue;
        }
        let text = cell.text();
        let mut fail = |problem| problems.push(RowProblem { column, problem });
        match column {
            Column::Name => row.full_name = text,
            Column::FirstName => first_name = text,
            Column::Email => row.email = Some(text),
            Column::Phone => row.phone = Some(text),
            Column::Adults => match count(cell) {
                Some(n) => row.adults = Some(n),
                None => fail(Problem::NotACount),
            },
            Column::Children => match count(cell) {
                Some(n) => row.children = Some(n),
                None => fail(Problem::NotACount),
            },
            Column::Income => match amount(cell) {
                Some(c) => row.monthly_income = Some(c),
                None => fail(Problem::NotAnAmount),
            },
            Column::ChosenContribution => match amount(cell) {
                Some(c) => row.chosen_contribution = Some(c),
                None => fail(Problem::NotAnAmount),
            },
            Column::JoinedOn => match date(cell) {
                Some(d) => row.joined_on = Some(d),
                None => fail(Problem::NotADate),
            },
        }
    }
    if !first_name.is_empty() {
        row.full_name = format!("{first_name} {}", row.full_name).trim().to_string();
    }
    if row.full_name.is_empty() {
        problems.insert(
            0,
            RowProblem {
                column: Column::Name,
                problem: Problem::Missing,
            },
        );
    }
    ParsedRow {
        line,
        read: row,
        problems,
    }
}

/// A count of people: a whole number of zero or more (`2`, or `2.0` from a number cell).
fn count(cell: &Cell) -> Option<i64> {
    let t = cell.text();
    let t = t.strip_suffix(".0").unwrap_or(&t);
    t.parse::<i64>().ok().filter(|n| (0..=1000).contains(n))
}

/// An amount in euros as people write it: `1 234,50`, `1234.50`, `1234,50 €`, `1.234,50`.
pub fn amount(cell: &Cell) -> Option<Cents> {
    let t: String = cell
        .text()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '€'))
        .collect();
    let t = t.strip_suffix("EUR").unwrap_or(&t);
    let t = if t.contains(',') {
        t.replace('.', "").replace(',', ".")
    } else {
        t.to_string()
    };
    t.parse().ok()
}

/// A date: `JJ/MM/AAAA`, `AAAA-MM-JJ` (a time after it is dropped) or a spreadsheet serial.
pub fn date(cell: &Cell) -> Option<NaiveDate> {
    match cell {
        Cell::DateSerial(days) => serial_date(*days),
        Cell::Number(n) => serial_date(n.parse().ok()?),
        Cell::Text(t) => {
            let t = t.trim();
            let day = t.split([' ', 'T']).next().unwrap_or(t);
            NaiveDate::parse_from_str(day, "%d/%m/%Y")
                .or_else(|_| NaiveDate::parse_from_str(day, "%Y-%m-%d"))
                .ok()
                .filter(|d| d.year_ce().1 >= 1900)
        }
        Cell::Empty => None,
    }
}

/// Days since 1899-12-30 (Excel's and LibreOffice's day zero for dates after 1900-03-01).
fn serial_date(days: f64) -> Option<NaiveDate> {
    if !(1.0..=2_958_465.0).contains(&days) {
        return None;
    }
    let zero = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    zero.checked_add_days(chrono::Days::new(days.trunc() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Parsed, FileError> {
        parse_rows(&split_csv(&decode_text(text.as_bytes()))?, 1)
    }

    fn ok(p: &ParsedRow) -> &MemberRow {
        assert_eq!(p.problems, vec![], "a valid line");
        &p.read
    }

    fn euros(s: &str) -> Option<Cents> {
        s.parse().ok()
    }

    #[test]
    fn a_french_csv_with_semicolons_decimal_commas_and_french_dates() {
        let p = csv(
            "Nom;Prénom;Adultes;Enfants (moins de 14 ans);Revenu mensuel;E-mail;Téléphone;Date d'adhésion\n\
             Diallo;Awa;2;3;\"1 234,50 €\";awa@example.org;06 12 34 56 78;15/09/2025\n\
             Martin;;1;0;;;;2024-01-31\n",
        )
        .unwrap();
        assert_eq!(p.rows.len(), 2);
        let awa = ok(&p.rows[0]);
        assert_eq!(p.rows[0].line, 2);
        assert_eq!(awa.full_name, "Awa Diallo");
        assert_eq!((awa.adults, awa.children), (Some(2), Some(3)));
        assert_eq!(awa.monthly_income, euros("1234.50"));
        assert_eq!(awa.email.as_deref(), Some("awa@example.org"));
        assert_eq!(awa.phone.as_deref(), Some("06 12 34 56 78"));
        assert_eq!(awa.joined_on, NaiveDate::from_ymd_opt(2025, 9, 15));
        let martin = ok(&p.rows[1]);
        assert_eq!(martin.full_name, "Martin");
        assert_eq!(martin.monthly_income, None);
        assert_eq!(martin.joined_on, NaiveDate::from_ymd_opt(2024, 1, 31));
        assert!(p.ignored_columns.is_empty());
    }

    #[test]
    fn an_english_csv_with_commas_a_bom_and_crlf() {
        let p = csv(
            "\u{feff}NAME,Adults,Children,Chosen contribution,Email,Notes\r\n\
             Sam Lee,1,2,12.50,sam@example.org,likes bread\r\n",
        )
        .unwrap();
        let sam = ok(&p.rows[0]);
        assert_eq!(sam.full_name, "Sam Lee");
        assert_eq!(sam.chosen_contribution, euros("12.50"));
        assert_eq!(p.ignored_columns, vec!["Notes".to_string()]);
    }

    #[test]
    fn windows_1252_is_read_when_the_file_is_not_utf8() {
        let bytes = b"Nom;Pr\xe9nom\nL\xe9a;Zo\xe9\n";
        let p = parse_rows(&split_csv(&decode_text(bytes)).unwrap(), 1).unwrap();
        assert_eq!(ok(&p.rows[0]).full_name, "Zoé Léa");
        assert_eq!(decode_text(b"5 \x80"), "5 €");
    }

    #[test]
    fn amounts_the_ways_people_write_them() {
        let a = |s: &str| amount(&Cell::Text(s.into()));
        assert_eq!(a("1 234,50"), euros("1234.50"));
        assert_eq!(a("1234.50"), euros("1234.50"));
        assert_eq!(a("1234,50 €"), euros("1234.50"));
        assert_eq!(a("1.234,5"), euros("1234.50"));
        assert_eq!(a("1\u{202f}200"), euros("1200"));
        assert_eq!(amount(&Cell::Number("812.3".into())), euros("812.30"));
        for bad in ["-5", "douze", "1,234", "12.345"] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_french_iso_and_serial() {
        let d = NaiveDate::from_ymd_opt(2025, 9, 15);
        assert_eq!(date(&Cell::Text("15/09/2025".into())), d);
        assert_eq!(date(&Cell::Text("2025-09-15".into())), d);
        assert_eq!(date(&Cell::Text("2025-09-15 00:00:00".into())), d);
        assert_eq!(date(&Cell::DateSerial(45915.0)), d);
        assert_eq!(date(&Cell::Number("45915".into())), d);
        assert_eq!(date(&Cell::Text("09/15/2025".into())), None);
        assert_eq!(date(&Cell::DateSerial(-3.0)), None);
    }

    #[test]
    fn bad_cells_name_their_column_and_the_line_keeps_its_name() {
        let p =
            csv("nom,adultes,enfants,revenu,date d'adhesion\nAwa,deux,-1,beaucoup,hier\n,1,0,,\n")
                .unwrap();
        let problems = &p.rows[0].problems;
        let columns: Vec<(Column, Problem)> = problems
            .iter()
            .map(|p| (p.column, p.problem.clone()))
            .collect();
        assert_eq!(
            columns,
            vec![
                (Column::Adults, Problem::NotACount),
                (Column::Children, Problem::NotACount),
                (Column::Income, Problem::NotAnAmount),
                (Column::JoinedOn, Problem::NotADate),
            ]
        );
        assert_eq!(p.rows[0].read.full_name, "Awa");
        assert_eq!(p.rows[0].read.adults, None);
        let unnamed = &p.rows[1].problems;
        assert_eq!(unnamed[0].problem, Problem::Missing);
        assert_eq!(p.rows[1].line, 3);
    }

    #[test]
    fn wrong_headers_refuse_the_file() {
        assert_eq!(
            csv("prénom;email\nAwa;a@b.fr\n"),
            Err(FileError::NoNameColumn)
        );
        assert_eq!(
            csv("Nom;Name\nAwa;Awa\n"),
            Err(FileError::DuplicateColumn("Name".into()))
        );
        assert_eq!(csv("\n ; \n"), Err(FileError::Empty));
        assert_eq!(
            csv("nom\n\"Awa\n"),
            Err(FileError::UnclosedQuote { line: 2 })
        );
    }

    #[test]
    fn headers_in_any_case_with_accents_or_not() {
        for (h, c) in [
            ("DATE D’ADHÉSION", Column::JoinedOn),
            ("date_adhesion", Column::JoinedOn),
            ("Téléphone", Column::Phone),
            ("telephone", Column::Phone),
            ("Cotisation choisie", Column::ChosenContribution),
            ("Chosen contribution", Column::ChosenContribution),
            ("Monthly income", Column::Income),
            ("Enfants de moins de 14 ans", Column::Children),
        ] {
            assert_eq!(Column::from_header(h), Some(c), "{h}");
        }
        assert_eq!(Column::from_header("Remarques"), None);
    }

    #[test]
    fn too_many_rows_refuse_the_file() {
        let mut text = String::from("nom\n");
        for i in 0..=MAX_ROWS {
            text.push_str(&format!("Personne {i}\n"));
        }
        assert_eq!(csv(&text), Err(FileError::TooManyRows { max: MAX_ROWS }));
        let mut rows = vec![vec![Cell::Text("nom".into())]];
        rows.extend((0..=MAX_ROWS).map(|i| vec![Cell::Text(format!("P {i}"))]));
        assert_eq!(
            parse_rows(&rows, 1),
            Err(FileError::TooManyRows { max: MAX_ROWS })
        );
        text.truncate(text.len() - "Personne 5000\n".len());
        assert_eq!(csv(&text).unwrap().rows.len(), MAX_ROWS);
    }
}
