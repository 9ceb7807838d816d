//! Importing a member list from a spreadsheet (issue 15, point 2): a dry run that says what
//! each line will create or what is wrong with it, then the import, all or nothing.
//!
//! The rule against importing a person twice: a line is refused when the fund already has a
//! member with its email, or, for a line without email, a member of the same name without
//! email; and likewise within the file (the later line is refused). Importing the same file
//! again therefore refuses every line and creates nothing; the dry run shows it first.

use std::collections::HashMap;

use crate::domain::import::{self, Column, FileError, MemberRow, Problem, RowProblem};
use crate::domain::settings::FundSettings;
use crate::domain::{Cents, FundId};
use crate::service::error::ServiceError;
use crate::service::members::{new_member, MemberInput};
use crate::store::members::{self, Member, NewMember};
use crate::store::{funds, Db};

/// What one line will create: the member, with what the fund's current rules give them.
#[derive(Clone, Debug)]
pub struct Planned {
    pub member: NewMember,
    pub contribution: Cents,
    pub monthly_allowance: Cents,
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct ReportRow {
    pub line: usize,
    pub name: String,
    pub outcome: Result<Planned, Vec<RowProblem>>,
}

/// The dry run's answer: every line, and the columns that were ignored.
#[derive(Clone, Debug)]
pub struct Report {
    pub rows: Vec<ReportRow>,
    pub ignored_columns: Vec<String>,
}

impl Report {
    /// The lines that will create a member.
    pub fn ready(&self) -> usize {
        self.rows.iter().filter(|r| r.outcome.is_ok()).count()
    }

    /// The lines with a problem: while there is one, the import creates nothing.
    pub fn refused(&self) -> usize {
        self.rows.len() - self.ready()
    }
}

/// Why an import created nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is refused: {0}")]
    File(#[from] FileError),
    #[error("{} lines have problems; nothing was imported", .0.refused())]
    Rows(Report),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for ImportError {
    fn from(e: crate::store::StoreError) -> Self {
        ImportError::Service(e.into())
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Service(e.into())
    }
}

/// Reads the file and says, line by line, what the import would do; creates nothing.
#[tracing::instrument(skip(db, bytes), fields(bytes = bytes.len()))]
pub async fn dry_run(
    db: &Db,
    fund_id: &FundId,
    bytes: &[u8],
    file_name: &str,
) -> Result<Report, ImportError> {
    let parsed = import::read_file(bytes, file_name)?;
    let settings = funds::settings(db, fund_id).await?;
    let known = members::identities(db.pool(), fund_id).await?;
    Ok(check(parsed, &settings, &known, crate::domain::today()))
}

/// Reads the file again, checks it again inside one transaction, and creates every member or
/// none: a single line with a problem refuses the whole file with the report.
#[tracing::instrument(skip(db, bytes), fields(bytes = bytes.len()))]
pub async fn import(
    db: &Db,
    fund_id: &FundId,
    bytes: &[u8],
    file_name: &str,
) -> Result<Vec<Member>, ImportError> {
    let parsed = import::read_file(bytes, file_name)?;
    let settings = funds::settings(db, fund_id).await?;
    let mut tx = db.begin().await?;
    // Taking this counter's row first makes two imports of one fund wait for each other, so the
    // second sees the first one's members and refuses them (both backends lock the row).
    members::next_counter(&mut tx, fund_id, "member_import", 1).await?;
    let known = members::identities(&mut *tx, fund_id).await?;
    let report = check(parsed, &settings, &known, crate::domain::today());
    if report.refused() > 0 {
        return Err(ImportError::Rows(report));
    }
    let new: Vec<NewMember> = report
        .rows
        .into_iter()
        .filter_map(|r| r.outcome.ok().map(|p| p.member))
        .collect();
    let created = members::create_many(&mut tx, fund_id, &new).await?;
    assert_eq!(created.len(), new.len(), "one member per line");
    tx.commit().await?;
    Ok(created)
}

/// How a person is told apart: their email, or their name when they have none.
fn identity(email: Option<&str>, name: &str) -> String {
    match email {
        Some(e) => format!("email:{}", e.trim().to_lowercase()),
        None => format!(
            "name:{}",
            name.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        ),
    }
}

/// Every line against the rules of a member, the fund's members and the earlier lines.
fn check(
    parsed: import::Parsed,
    settings: &FundSettings,
    known: &[(i64, Option<String>, String)],
    today: chrono::NaiveDate,
) -> Report {
    let members: HashMap<String, i64> = known
        .iter()
        .map(|(number, email, name)| (identity(email.as_deref(), name), *number))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let rows = parsed
        .rows
        .into_iter()
        .map(|row| {
            let outcome = match validate(&row.read, settings, today) {
                // The rules of a member speak only of columns that were read.
                Err(refused) => Err(merge(row.problems, refused)),
                Ok(_) if !row.problems.is_empty() => Err(row.problems),
                Ok(member) => {
                    let key = identity(member.email.as_deref(), &member.full_name);
                    let column = if member.email.is_some() {
                        Column::Email
                    } else {
                        Column::Name
                    };
                    let problem = match (members.get(&key), seen.get(&key)) {
                        (Some(&number), _) => Some(Problem::AlreadyMember { number }),
                        (None, Some(&line)) => Some(Problem::DuplicateOf { line }),
                        (None, None) => None,
                    };
                    seen.entry(key).or_insert(row.line);
                    match problem {
                        Some(problem) => Err(vec![RowProblem { column, problem }]),
                        None => Ok(plan(member, settings)),
                    }
                }
            };
            ReportRow {
                line: row.line,
                name: row.read.full_name,
                outcome,
            }
        })
        .collect();
    Report {
        rows,
        ignored_columns: parsed.ignored_columns,
    }
}

/// The cells that could not be read, then what the rules refuse in the other columns.
fn merge(mut read: Vec<RowProblem>, refused: Vec<RowProblem>) -> Vec<RowProblem> {
    for p in refused {
        if !read.iter().any(|r| r.column == p.column) {
            read.push(p);
        }
    }
    read
}

/// A line read, checked as the members form checks a new member.
fn validate(
    read: &MemberRow,
    settings: &FundSettings,
    today: chrono::NaiveDate,
) -> Result<NewMember, Vec<RowProblem>> {
    let input = MemberInput {
        full_name: Some(read.full_name.clone()),
        email: Some(read.email.clone()),
        phone: Some(read.phone.clone()),
        adults: Some(read.adults.unwrap_or(1)),
        children: Some(read.children.unwrap_or(0)),
        monthly_income: Some(read.monthly_income),
        chosen_contribution: Some(read.chosen_contribution),
    };
    new_member(
        &input,
        &settings.contribution_scale,
        read.joined_on.unwrap_or(today),
    )
    .map_err(|e| {
        let mut problems: Vec<RowProblem> = Vec::new();
        for f in e.fields() {
            let column = column_of(&f.field);
            if !problems.iter().any(|p| p.column == column) {
                problems.push(RowProblem {
                    column,
                    problem: Problem::Refused,
                });
            }
        }
        if problems.is_empty() {
            problems.push(RowProblem {
                column: Column::Name,
                problem: Problem::Refused,
            });
        }
        problems
    })
}

/// The column of a field the members' rules name.
fn column_of(field: &str) -> Column {
    match field {
        "email" => Column::Email,
        "phone" => Column::Phone,
        "household.children" => Column::Children,
        "household.adults" | "household" => Column::Adults,
        "monthly_income" => Column::Income,
        "chosen_contribution" => Column::ChosenContribution,
        _ => Column::Name,
    }
}

fn plan(member: NewMember, settings: &FundSettings) -> Planned {
    let contribution = settings.contribution_scale.contribution(
        member.household,
        member.monthly_income,
        member.chosen_contribution,
    );
    let monthly_allowance = settings
        .allowance
        .monthly_amount(member.household)
        .unwrap_or(Cents::ZERO);
    Planned {
        member,
        contribution,
        monthly_allowance,
    }
}
