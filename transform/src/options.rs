//! The transform's options, with Binaryen's defaults, and the parser for Binaryen's
//! `--pass-arg=asyncify-NAME[@VALUE]` spelling so existing build scripts keep working.

use crate::Error;

/// One field per option of Binaryen's pass that we implement. `Default` matches Binaryen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Glob patterns on `module.base` of the imports that may pause. `None`: every import may.
    pub imports: Option<Vec<String>>,
    /// No import may pause (only the pure-wasm runtime and the lists can make code pause).
    pub ignore_imports: bool,
    /// Indirect calls are assumed never to pause.
    pub ignore_indirect: bool,
    /// Binaryen's assumption: every indirect call may pause. By default an indirect call may
    /// pause only if a function it can reach may (by table and type).
    pub every_indirect_may_pause: bool,
    /// Promise that the host never puts functions into the module's imported or exported
    /// tables, nor hands it function references: their indirect calls, and `call_ref`, are
    /// analysed like those of a module that shares no reference with the host.
    pub closed_world: bool,
    /// If set, exactly these functions (glob patterns on names) are instrumented.
    pub only_list: Option<Vec<String>>,
    /// Functions that never pause, whatever the analysis says.
    pub remove_list: Vec<String>,
    /// Functions that may pause, whatever the analysis says.
    pub add_list: Vec<String>,
    /// Callers of add-listed functions become able to pause too.
    pub propagate_add_list: bool,
    /// The exported name of the memory that holds the asyncify data (default: memory 0).
    pub memory: Option<String>,
    /// Print why each function is instrumented.
    pub verbose: bool,
    /// Where a rewind restores a function's locals: `None` (the default) picks per function,
    /// `Some(true)` at the site it heads for in every function, `Some(false)` once at every
    /// function's entry. For tests and for measuring the two shapes (`docs/transform.md`).
    pub restore_at_sites: Option<bool>,
    /// Whether a function's rewind runs in a copy of it, so that its own body serves the
    /// normal state alone: `None` (the default) picks per function, `Some(true)` in every
    /// function, `Some(false)` in none. For tests and for measuring the two shapes.
    pub rewind_copy: Option<bool>,
}

impl Options {
    /// Applies one Binaryen pass argument: `NAME` or `NAME@VALUE`, with or without the
    /// `asyncify-` prefix. A list value starting with `@` is read from that file.
    pub fn apply_pass_arg(&mut self, arg: &str) -> Result<(), Error> {
        let (name, value) = match arg.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let key = name.strip_prefix("asyncify-").unwrap_or(name);
        let shown = format!("asyncify-{key}");
        let list = |value: Option<&str>| -> Result<Vec<String>, Error> {
            let value = value.ok_or_else(|| Error::option(&shown, "needs a value (NAME@VALUE)"))?;
            parse_list(value).map_err(|m| Error::option(&shown, m))
        };
        let flag = |value: Option<&str>| -> Result<bool, Error> {
            match value {
                None => Ok(true),
                Some(v) => Err(Error::option(&shown, format!("takes no value, got `{v}`"))),
            }
        };
        match key {
            "imports" => self.imports = Some(list(value)?),
            "ignore-imports" => self.ignore_imports = flag(value)?,
            "ignore-indirect" => self.ignore_indirect = flag(value)?,
            "onlylist" | "whitelist" => self.only_list = Some(list(value)?),
            "removelist" | "blacklist" => self.remove_list.extend(list(value)?),
            "addlist" => self.add_list.extend(list(value)?),
            "propagate-addlist" => self.propagate_add_list = flag(value)?,
            "memory" => {
                let v = value.ok_or_else(|| Error::option(&shown, "needs a memory name"))?;
                self.memory = Some(v.to_string());
            }
            "verbose" => self.verbose = flag(value)?,
            "asserts"
            | "in-secondary-memory"
            | "secondary-memory-size"
            | "import-globals"
            | "export-globals"
            | "relocatable"
            | "side-module" => {
                return Err(Error::option(
                    &shown,
                    "is not supported yet by this implementation",
                ))
            }
            _ => return Err(Error::option(&shown, "unknown asyncify option")),
        }
        Ok(())
    }

    /// Rejects contradictory combinations, as Binaryen does.
    pub fn check(&self) -> Result<(), Error> {
        if self.only_list.is_some() && (!self.add_list.is_empty() || !self.remove_list.is_empty()) {
            return Err(Error::option(
                "asyncify-onlylist",
                "cannot be combined with the add list or the remove list",
            ));
        }
        Ok(())
    }
}

/// Parses a list value: comma separated, or `@FILE` with one entry per line or comma. Commas
/// inside brackets (C++ signatures such as `foo(int, char)`) do not split an entry.
pub fn parse_list(value: &str) -> Result<Vec<String>, String> {
    let text = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read list file `{path}`: {e}"))?,
        None => value.to_string(),
    };
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' | '>' => depth -= 1,
            _ => {}
        }
        if c == '\n' || (c == ',' && depth <= 0) {
            push_item(&mut items, &mut cur);
        } else {
            cur.push(c);
        }
    }
    push_item(&mut items, &mut cur);
    Ok(items)
}

fn push_item(items: &mut Vec<String>, cur: &mut String) {
    let item = cur.trim();
    if !item.is_empty() {
        items.push(item.to_string());
    }
    cur.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_args_set_fields() {
        let mut o = Options::default();
        o.apply_pass_arg("asyncify-imports@env.sleep,env.pause")
            .unwrap();
        o.apply_pass_arg("asyncify-ignore-indirect").unwrap();
        o.apply_pass_arg("asyncify-removelist@foo(int, char),bar")
            .unwrap();
        assert_eq!(
            o.imports.as_deref(),
            Some(&["env.sleep".to_string(), "env.pause".into()][..])
        );
        assert!(o.ignore_indirect);
        assert_eq!(
            o.remove_list,
            vec!["foo(int, char)".to_string(), "bar".into()]
        );
    }

    #[test]
    fn bad_pass_args_name_the_option() {
        let mut o = Options::default();
        let e = o
            .apply_pass_arg("asyncify-frobnicate")
            .unwrap_err()
            .to_string();
        assert!(e.contains("asyncify-frobnicate"), "{e}");
        let e = o
            .apply_pass_arg("asyncify-ignore-indirect@1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("takes no value"), "{e}");
        o.only_list = Some(vec!["a".into()]);
        o.add_list = vec!["b".into()];
        assert!(o.check().is_err());
    }
}
