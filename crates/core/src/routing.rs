//! Field routing: which interfaces own which field, resolved once at start-up.

use std::collections::{BTreeSet, HashMap};

use crate::config::FieldRules;

/// Owners of every field, in configuration order. Fields named by any rule get
/// their own entry; every other field shares `default` (the catch-all
/// interfaces). A lookup is one hash probe.
#[derive(Debug)]
pub(crate) struct Router {
    named: HashMap<String, Box<[usize]>>,
    default: Box<[usize]>,
}

fn owns(rules: &[&FieldRules], i: usize, field: &str) -> bool {
    let included_elsewhere = || {
        rules.iter().enumerate().any(|(j, r)| {
            j != i && matches!(r, FieldRules::Include(v) if v.iter().any(|f| f == field))
        })
    };
    match rules[i] {
        FieldRules::All => true,
        FieldRules::Include(v) => v.iter().any(|f| f == field),
        FieldRules::Exclude(v) => !v.iter().any(|f| f == field),
        FieldRules::Auto => !included_elsewhere(),
    }
}

impl Router {
    /// Resolve the rules of interfaces `0..rules.len()`. Returns the router and
    /// the overlaps worth a start-up warning: (field or `*`, owner indices).
    pub(crate) fn new(rules: &[&FieldRules]) -> (Self, Vec<(String, Vec<usize>)>) {
        let mut names = BTreeSet::new();
        for r in rules {
            if let FieldRules::Include(v) | FieldRules::Exclude(v) = r {
                names.extend(v.iter().cloned());
            }
        }
        let owners_of = |field: &str| -> Box<[usize]> {
            (0..rules.len())
                .filter(|&i| owns(rules, i, field))
                .collect()
        };
        // A name no rule mentions: Include never owns it, the others always do.
        let default: Box<[usize]> = (0..rules.len())
            .filter(|&i| !matches!(rules[i], FieldRules::Include(_)))
            .collect();
        let mut overlaps = Vec::new();
        if default.len() > 1 {
            overlaps.push(("*".to_owned(), default.to_vec()));
        }
        let named: HashMap<String, Box<[usize]>> = names
            .into_iter()
            .map(|f| {
                let o = owners_of(&f);
                if o.len() > 1 {
                    overlaps.push((f.clone(), o.to_vec()));
                }
                (f, o)
            })
            .collect();
        (Self { named, default }, overlaps)
    }

    /// The interfaces owning `field`, in configuration order.
    pub(crate) fn owners(&self, field: &str) -> &[usize] {
        self.named.get(field).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(rules: &[FieldRules]) -> Router {
        let refs: Vec<&FieldRules> = rules.iter().collect();
        Router::new(&refs).0
    }

    #[test]
    fn seed_configuration_routes_each_field_once() {
        let r = router(&[
            FieldRules::include(["csrf_token"]),
            FieldRules::include(["user_id", "user_data"]),
            FieldRules::Auto,
        ]);
        assert_eq!(r.owners("csrf_token"), &[0]);
        assert_eq!(r.owners("user_id"), &[1]);
        assert_eq!(r.owners("user_data"), &[1]);
        assert_eq!(r.owners("anything_else"), &[2]);
    }

    #[test]
    fn all_include_exclude() {
        let r = router(&[
            FieldRules::All,
            FieldRules::include(["a"]),
            FieldRules::exclude(["a", "b"]),
        ]);
        assert_eq!(r.owners("a"), &[0, 1]);
        assert_eq!(r.owners("b"), &[0]);
        assert_eq!(r.owners("c"), &[0, 2]);
    }

    #[test]
    fn include_only_leaves_other_fields_unowned() {
        let r = router(&[FieldRules::include(["a"])]);
        assert!(r.owners("b").is_empty());
    }

    #[test]
    fn an_empty_include_list_in_code_owns_nothing() {
        let empty: Vec<String> = Vec::new();
        let r = router(&[FieldRules::include(empty), FieldRules::include(["a"])]);
        assert_eq!(r.owners("a"), &[1]);
        assert!(r.owners("b").is_empty());
        // Only a document's `[]` means every field.
        let doc: FieldRules = serde_json::from_str("[]").unwrap();
        assert_eq!(doc, FieldRules::All);
    }

    #[test]
    fn overlaps_are_reported() {
        let rules = [FieldRules::include(["a"]), FieldRules::All];
        let refs: Vec<&FieldRules> = rules.iter().collect();
        let (_, overlaps) = Router::new(&refs);
        assert_eq!(overlaps, vec![("a".to_owned(), vec![0, 1])]);
    }

    #[test]
    fn auto_ignores_its_own_exclusions_but_not_others_includes() {
        let r = router(&[
            FieldRules::Auto,
            FieldRules::include(["x"]),
            FieldRules::Auto,
        ]);
        assert_eq!(r.owners("x"), &[1]);
        assert_eq!(r.owners("y"), &[0, 2]);
    }
}
