//! Finding services in the catalogue by name (Chinese or English) and department.

use onestop_model::{Catalog, DepartmentId, Service};

/// The services whose Chinese or English name holds every word of `query` (ignoring case),
/// in department `dept` when one is given; by department, then catalogue order. An empty query
/// finds every service of the department (or of the catalogue).
pub fn search<'c>(catalog: &'c Catalog, query: &str, dept: Option<&str>) -> Vec<&'c Service> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let dept = dept.map(str::trim).filter(|d| !d.is_empty()).map(DepartmentId::new);
    let mut found: Vec<&Service> = catalog
        .services
        .values()
        .filter(|s| dept.as_ref().is_none_or(|d| &s.department == d))
        .filter(|s| {
            let names = format!("{}\n{}", s.name.zh.to_lowercase(), s.name.en.to_lowercase());
            words.iter().all(|w| names.contains(w.as_str()))
        })
        .collect();
    found.sort_by(|a, b| a.department.cmp(&b.department));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_model::{CaseKind, Department, Service, ServiceId, Text};

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        for (id, zh, en) in [("registry", "教务处", "Registry"), ("finance", "财务处", "Finance Office")]
        {
            c.departments.insert(
                DepartmentId::new(id),
                Department { id: DepartmentId::new(id), name: Text::new(zh, en) },
            );
        }
        for (id, dept, zh, en, prefix) in [
            ("enrolment-cert", "registry", "在读证明", "Certificate of enrolment", 'A'),
            ("transcript", "registry", "成绩单", "Transcript", 'B'),
            ("fee-refund", "finance", "学费退费", "Tuition refund", 'C'),
            ("invoice", "finance", "开具发票", "Invoices", 'D'),
        ] {
            c.services.insert(
                ServiceId::new(id),
                Service {
                    id: ServiceId::new(id),
                    department: DepartmentId::new(dept),
                    name: Text::new(zh, en),
                    prefix,
                    kind: CaseKind::Immediate,
                    guide: Text::default(),
                    expected_minutes: 5,
                },
            );
        }
        c
    }

    fn check(query: &str, dept: Option<&str>, expected: &[&str]) {
        let c = catalog();
        let found: Vec<&str> = search(&c, query, dept).iter().map(|s| s.id.as_str()).collect();
        assert_eq!(found, expected, "search {query:?} in {dept:?}");
    }

    #[test]
    fn finds_by_either_name_ignoring_case() {
        check("transcript", None, &["transcript"]);
        check("TRANSCRIPT", None, &["transcript"]);
        check("成绩", None, &["transcript"]);
        check("  证明 ", None, &["enrolment-cert"]);
        check("certificate ENROL", None, &["enrolment-cert"]);
        check("refund 退费", None, &["fee-refund"]);
        check("nothing like it", None, &[]);
        // Not by id or department: the names are what a visitor reads.
        check("fee-refund", None, &[]);
    }

    #[test]
    fn filters_by_department() {
        check("", None, &["fee-refund", "invoice", "enrolment-cert", "transcript"]);
        check("", Some("registry"), &["enrolment-cert", "transcript"]);
        check("", Some(" "), &["fee-refund", "invoice", "enrolment-cert", "transcript"]);
        check("invoice", Some("registry"), &[]);
        check("in", Some("finance"), &["invoice"]);
        check("", Some("no-such"), &[]);
    }
}
