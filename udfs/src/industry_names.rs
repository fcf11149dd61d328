//! The industries value object and the rules that turn free text into it.
//!
//! [`Industry`] is the fixed set of 10. [`parse_industries`] reads one
//! customer's `specialised_industries` field, as DESIGN.md's "Industry
//! names" defines it:
//! - matching is case-insensitive and ignores surrounding and repeated
//!   whitespace;
//! - "Oil&Gas" is recognised as `oil&gas`, `oil & gas` or `oil and gas`
//!   before the field is split, so its `&` and `and` do not split it;
//! - the field then splits on `,` `;` `|` `/` `&` and the word `and`;
//! - "Colors" means Colours and "Polymers" means Polymer;
//! - a name matching none of the 10 is kept as written (trimmed) and marked
//!   unknown;
//! - a name repeated within one field counts once (unknown names compare
//!   case-insensitively, ignoring repeated whitespace); the first spelling
//!   and position are kept.
//!
//! What must stay true: the result depends only on the text, in the order
//! names first appear, so every implementation of the answer that follows
//! these rules attributes the same orders to the same industries.

use std::fmt;
use std::sync::LazyLock;

// hashbrown with foldhash: std's SipHash costs more than the lookup saves
use datafusion::common::HashMap;
use regex::Regex;

/// One of the 10 canonical industries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Industry {
    /// Agriculture
    Agriculture,
    /// Colours (also written "Colors")
    Colours,
    /// Cleaning
    Cleaning,
    /// Construction
    Construction,
    /// Cosmetics
    Cosmetics,
    /// Food
    Food,
    /// Lubricants
    Lubricants,
    /// Oil&Gas (also "oil & gas", "oil and gas")
    OilAndGas,
    /// Pharmaceuticals
    Pharmaceuticals,
    /// Polymer (also "Polymers")
    Polymer,
}

impl Industry {
    /// All 10, in name order.
    pub const ALL: [Industry; 10] = [
        Industry::Agriculture,
        Industry::Cleaning,
        Industry::Colours,
        Industry::Construction,
        Industry::Cosmetics,
        Industry::Food,
        Industry::Lubricants,
        Industry::OilAndGas,
        Industry::Pharmaceuticals,
        Industry::Polymer,
    ];

    /// The canonical name, as the answer shows it.
    pub const fn name(self) -> &'static str {
        match self {
            Industry::Agriculture => "Agriculture",
            Industry::Colours => "Colours",
            Industry::Cleaning => "Cleaning",
            Industry::Construction => "Construction",
            Industry::Cosmetics => "Cosmetics",
            Industry::Food => "Food",
            Industry::Lubricants => "Lubricants",
            Industry::OilAndGas => "Oil&Gas",
            Industry::Pharmaceuticals => "Pharmaceuticals",
            Industry::Polymer => "Polymer",
        }
    }

    /// The industry a single name means, ignoring case and whitespace.
    pub fn from_name(name: &str) -> Option<Industry> {
        let key = fold(name);
        if OIL_AND_GAS_WHOLE.is_match(&key) {
            return Some(Industry::OilAndGas);
        }
        Some(match key.as_str() {
            "agriculture" => Industry::Agriculture,
            "colours" | "colors" => Industry::Colours,
            "cleaning" => Industry::Cleaning,
            "construction" => Industry::Construction,
            "cosmetics" => Industry::Cosmetics,
            "food" => Industry::Food,
            "lubricants" => Industry::Lubricants,
            "pharmaceuticals" => Industry::Pharmaceuticals,
            "polymer" | "polymers" => Industry::Polymer,
            _ => return None,
        })
    }
}

impl fmt::Display for Industry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One name read from a field: a canonical industry, or an unknown name as
/// written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndustryName {
    /// One of the 10.
    Known(Industry),
    /// Anything else, trimmed.
    Unknown(String),
}

impl IndustryName {
    /// The name to show: canonical for a known industry, as written otherwise.
    pub fn as_str(&self) -> &str {
        match self {
            IndustryName::Known(i) => i.name(),
            IndustryName::Unknown(s) => s,
        }
    }

    /// True for one of the 10.
    pub fn is_known(&self) -> bool {
        matches!(self, IndustryName::Known(_))
    }
}

/// "Oil&Gas" in its spellings, or a separator: `,` `;` `|` `/` `&` or the word `and`.
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?P<oil>\boil(?:\s*&\s*|\s+and\s+)gas\b)|[,;|/&]|\band\b").expect("a valid pattern")
});

/// A whole (folded) name that is Oil&Gas.
static OIL_AND_GAS_WHOLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^oil(?:\s*&\s*|\s+and\s+)gas$").expect("a valid pattern"));

/// Lower case, trimmed, inner whitespace runs folded to one space.
fn fold(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Reads one field into its names, per the module's rules. An empty or
/// blank field has none.
pub fn parse_industries(field: &str) -> Vec<IndustryName> {
    let mut names = Vec::new();
    parse_into(field, &mut names);
    names
}

/// Reads a list-typed field element by element, as one field.
pub fn parse_industry_list<'a>(elements: impl IntoIterator<Item = Option<&'a str>>) -> Vec<IndustryName> {
    let mut names = Vec::new();
    for element in elements.into_iter().flatten() {
        parse_into(element, &mut names);
    }
    names
}

/// Reads many fields, parsing each distinct text once: customer batches
/// repeat a few hundred spellings over a million rows, and the regular
/// expressions and folding cost more than a lookup.
///
/// What must stay true: the names are [`parse_industries`]' and
/// [`parse_industry_list`]'s, in the same order. They are, because a text's
/// names are merged into a field's with the same rule (`add`) that parsing
/// it in place applies, and "the same name" is an equivalence, so the first
/// spelling and position of each name are kept either way.
#[derive(Debug, Default)]
pub struct ParseMemo<'a> {
    parsed: HashMap<&'a str, Vec<IndustryName>>,
}

impl<'a> ParseMemo<'a> {
    /// Adds the names of `text` (a field, or one element of a list field)
    /// to `names`, those of the field's earlier elements.
    pub fn parse_into(&mut self, text: &'a str, names: &mut Vec<IndustryName>) {
        let parsed = self.parsed.entry(text).or_insert_with(|| parse_industries(text));
        if names.is_empty() {
            names.extend(parsed.iter().cloned());
        } else {
            for name in parsed.iter() {
                add(names, name.clone());
            }
        }
    }
}

fn parse_into(field: &str, names: &mut Vec<IndustryName>) {
    let mut rest = 0;
    for m in TOKENS.captures_iter(field) {
        let Some(token) = m.get(0) else { continue };
        add_piece(&field[rest..token.start()], names);
        if m.name("oil").is_some() {
            add(names, IndustryName::Known(Industry::OilAndGas));
        }
        rest = token.end();
    }
    add_piece(&field[rest..], names);
}

/// Adds the text between two tokens, if it is not blank.
fn add_piece(piece: &str, names: &mut Vec<IndustryName>) {
    let piece = piece.trim();
    if piece.is_empty() {
        return;
    }
    add(
        names,
        match Industry::from_name(piece) {
            Some(i) => IndustryName::Known(i),
            None => IndustryName::Unknown(piece.to_string()),
        },
    );
}

/// Adds a name unless the field already has it.
fn add(names: &mut Vec<IndustryName>, name: IndustryName) {
    let same = |n: &IndustryName| match (n, &name) {
        (IndustryName::Known(a), IndustryName::Known(b)) => a == b,
        (IndustryName::Unknown(a), IndustryName::Unknown(b)) => fold(a) == fold(b),
        _ => false,
    };
    if !names.iter().any(same) {
        names.push(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(field: &str) -> Vec<(String, bool)> {
        parse_industries(field)
            .iter()
            .map(|n| (n.as_str().to_string(), n.is_known()))
            .collect()
    }

    fn known(names: &[&str]) -> Vec<(String, bool)> {
        names.iter().map(|n| (n.to_string(), true)).collect()
    }

    #[test]
    fn every_canonical_name_parses_to_itself() {
        for i in Industry::ALL {
            assert_eq!(parse_industries(i.name()), vec![IndustryName::Known(i)]);
            assert_eq!(Industry::from_name(i.name()), Some(i));
        }
    }

    #[test]
    fn case_and_whitespace_are_ignored() {
        assert_eq!(shown("  FOOD "), known(&["Food"]));
        assert_eq!(shown("pharmaceuticals"), known(&["Pharmaceuticals"]));
        assert_eq!(shown("oil   &\tgas"), known(&["Oil&Gas"]));
    }

    #[test]
    fn oil_and_gas_in_all_its_forms() {
        for s in [
            "Oil&Gas",
            "oil&gas",
            "OIL & GAS",
            "oil and gas",
            "Oil  And  Gas",
            "oil& gas",
        ] {
            assert_eq!(shown(s), known(&["Oil&Gas"]), "{s}");
        }
        // "and" is a word of its own: these are names outside the 10
        for s in ["oil andgas", "oiland gas", "oilandgas"] {
            assert_eq!(shown(s), vec![(s.to_string(), false)], "{s}");
        }
    }

    #[test]
    fn the_separators_split() {
        assert_eq!(
            shown("Cosmetics & Pharmaceuticals"),
            known(&["Cosmetics", "Pharmaceuticals"])
        );
        assert_eq!(shown("Oil&Gas; Polymer"), known(&["Oil&Gas", "Polymer"]));
        assert_eq!(
            shown("Food,Cleaning|Construction/Agriculture and Lubricants"),
            known(&["Food", "Cleaning", "Construction", "Agriculture", "Lubricants"])
        );
        assert_eq!(shown("Oil&Gas & Polymer"), known(&["Oil&Gas", "Polymer"]));
        assert_eq!(shown("oil and gas and food"), known(&["Oil&Gas", "Food"]));
        assert_eq!(shown("Food oil & gas"), known(&["Food", "Oil&Gas"]));
        // "and" only as a word
        assert_eq!(shown("Sandpaper"), vec![("Sandpaper".into(), false)]);
    }

    #[test]
    fn aliases() {
        assert_eq!(shown("Colors, colours"), known(&["Colours"]));
        assert_eq!(shown("Polymers"), known(&["Polymer"]));
    }

    #[test]
    fn unknown_names_are_kept_trimmed_and_flagged() {
        assert_eq!(
            shown(" Aerospace  Tech & Food"),
            vec![("Aerospace  Tech".into(), false), ("Food".into(), true)]
        );
    }

    #[test]
    fn duplicates_collapse_to_the_first() {
        assert_eq!(shown("Food, food ,FOOD"), known(&["Food"]));
        assert_eq!(shown("Mining; mining;  MINING"), vec![("Mining".into(), false)]);
        assert_eq!(shown("Oil&Gas, oil and gas"), known(&["Oil&Gas"]));
    }

    #[test]
    fn empty_fields_have_no_names() {
        assert!(parse_industries("").is_empty());
        assert!(parse_industries("  ").is_empty());
        assert!(parse_industries(" , ; & and ").is_empty());
    }

    #[test]
    fn lists_are_read_element_by_element() {
        let names = parse_industry_list([
            Some("Cosmetics & Pharmaceuticals"),
            None,
            Some("cosmetics"),
            Some("Colors"),
        ]);
        let names: Vec<&str> = names.iter().map(IndustryName::as_str).collect();
        assert_eq!(names, ["Cosmetics", "Pharmaceuticals", "Colours"]);
    }

    #[test]
    fn the_memo_gives_what_parsing_in_place_gives() {
        // texts whose names repeat across elements in other spellings,
        // unknown names included, in every order of three
        let texts = [
            "Food & Mining",
            "mining  and FOOD",
            "Oil and Gas / polymers",
            "Polymer, Oil&Gas",
            "",
            "  MINING ; colors",
            "Colours | Smelting",
        ];
        let mut memo = ParseMemo::default();
        for a in texts {
            for b in texts {
                for c in texts {
                    let direct = parse_industry_list([Some(a), Some(b), Some(c)]);
                    let mut names = Vec::new();
                    for t in [a, b, c] {
                        memo.parse_into(t, &mut names);
                    }
                    assert_eq!(names, direct, "{a:?} {b:?} {c:?}");
                    let mut whole = Vec::new();
                    memo.parse_into(a, &mut whole);
                    assert_eq!(whole, parse_industries(a), "{a:?}");
                }
            }
        }
    }
}
