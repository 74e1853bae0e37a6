//! The applications a rotp node runs, as OTP's application controller lists them, so that
//! tools reading a node's supervision trees the way observer's Applications tab does
//! (`application:which_applications/0`, `application_controller:get_master/1`,
//! `application_master:get_child/1`, by rpc) find every top supervisor: `kernel` (its
//! `kernel_sup`) and each application the program declares with
//! [`Node::application_started`].

use etf::{Atom, Pid, Term};

use crate::Node;

/// A running application.
#[derive(Clone, Debug)]
pub(crate) struct Application {
    name: Atom,
    description: String,
    version: String,
    /// The process that started the root supervisor and ends with it (OTP's
    /// application master).
    master: Pid,
    /// The root supervisor.
    root: Pid,
}

impl Node {
    /// Declares the application `name` (its `description` and `version`, as an `.app` file
    /// gives them) running under the root supervisor `root`, started by `master`: it is
    /// listed by `application:which_applications/0` from then on, until `master` ends.
    pub fn application_started(
        &self,
        name: &str,
        description: &str,
        version: &str,
        master: Pid,
        root: Pid,
    ) {
        let mut apps = self.applications();
        apps.retain(|a| a.name.as_str() != name);
        apps.push(Application {
            name: Atom::from(name),
            description: description.to_owned(),
            version: version.to_owned(),
            master,
            root,
        });
    }

    fn applications(&self) -> std::sync::MutexGuard<'_, Vec<Application>> {
        self.inner()
            .applications
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The applications running: `kernel` first (master and root are `kernel_sup`), then
    /// those declared whose master still runs.
    fn running(&self) -> Vec<Application> {
        let rt = self.runtime();
        let mut apps = self.applications();
        apps.retain(|a| rt.is_alive(&a.master));
        let kernel = rt
            .whereis(&Atom::from("kernel_sup"))
            .map(|sup| Application {
                name: Atom::from("kernel"),
                description: "ERTS  CXC 138 10".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                master: sup.clone(),
                root: sup,
            });
        kernel.into_iter().chain(apps.iter().cloned()).collect()
    }
}

/// `application:which_applications/0`: `[{Name, Description, Version}]`.
pub(crate) fn which_applications(node: &Node) -> Term {
    let string = |s: &str| {
        Term::List(
            s.chars()
                .map(|c| Term::Integer(i64::from(u32::from(c))))
                .collect(),
        )
    };
    Term::List(
        node.running()
            .into_iter()
            .map(|a| {
                Term::Tuple(vec![
                    Term::Atom(a.name),
                    string(&a.description),
                    string(&a.version),
                ])
            })
            .collect(),
    )
}

/// `application_controller:get_master(Name)`: its master's pid, or `undefined`.
pub(crate) fn get_master(node: &Node, name: &Atom) -> Term {
    node.running()
        .into_iter()
        .find(|a| &a.name == name)
        .map_or_else(|| Term::atom("undefined"), |a| Term::Pid(a.master))
}

/// `application_master:get_child(Master)`: `{RootSupervisor, Module}`.
pub(crate) fn get_child(node: &Node, master: &Pid) -> Term {
    node.running()
        .into_iter()
        .find(|a| &a.master == master)
        .map_or_else(
            || Term::atom("undefined"),
            |a| Term::Tuple(vec![Term::Pid(a.root), Term::Atom(a.name)]),
        )
}
