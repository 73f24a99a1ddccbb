//! Name lists with `*` and `?` wildcards, as Binaryen's lists accept.

/// A compiled list of glob patterns.
#[derive(Debug, Default)]
pub(crate) struct NameList {
    patterns: Vec<String>,
}

impl NameList {
    pub fn new(patterns: &[String]) -> Self {
        NameList {
            patterns: patterns.to_vec(),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| glob(p.as_bytes(), name.as_bytes()))
    }

    /// Patterns that matched none of `names` (reported as warnings, like Binaryen).
    pub fn unmatched<'a>(&'a self, names: &[&str]) -> Vec<&'a str> {
        self.patterns
            .iter()
            .filter(|p| !names.iter().any(|n| glob(p.as_bytes(), n.as_bytes())))
            .map(|s| s.as_str())
            .collect()
    }
}

/// Iterative glob match with backtracking on the last `*` (linear in practice).
pub(crate) fn glob(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob(b"env.*", b"env.sleep"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
        assert!(glob(b"env.sl??p", b"env.sleep"));
        assert!(!glob(b"env.sleep", b"env.sleeps"));
    }
}
