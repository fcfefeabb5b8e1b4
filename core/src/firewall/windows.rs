//! Windows only: reads the Windows Firewall (`INetFwPolicy2`: profiles, whether local rules take
//! effect, rules; a rule that cannot be read whole is kept as unreadable) and the network list
//! (`INetworkListManager`: each connected network's name, category and adapters) through COM, joined
//! with IP Helper's adapters (`winnet`); applies a [`FixPlan`] (the window's fix, the installer's
//! rules) and removes CXR Gate's own rules through the same interfaces. Numbers and the firewall's
//! own syntax come back, the same in every display language. Kept small: what the data means is
//! `evaluate.rs`'s business.

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

use windows::core::{Interface, BSTR};
use windows::Win32::Foundation::{RPC_E_CHANGED_MODE, VARIANT_FALSE, VARIANT_TRUE};
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, INetFwRules, NetFwPolicy2, NetFwRule, NET_FW_ACTION_ALLOW, NET_FW_ACTION_BLOCK,
    NET_FW_MODIFY_STATE_GP_OVERRIDE, NET_FW_MODIFY_STATE_INBOUND_BLOCKED, NET_FW_MODIFY_STATE_OK, NET_FW_PROFILE_TYPE2,
    NET_FW_RULE_DIR_IN,
};
use windows::Win32::Networking::NetworkListManager::{
    INetwork, INetworkConnection, INetworkListManager, NetworkListManager, NLM_ENUM_NETWORK_CONNECTED,
    NLM_NETWORK_CATEGORY_DOMAIN_AUTHENTICATED, NLM_NETWORK_CATEGORY_PRIVATE,
};
use windows::Win32::System::Com::{
    CoCreateInstance, CoInitializeEx, CoUninitialize, IDispatch, CLSCTX_ALL, CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED,
};
use windows::Win32::System::Ole::IEnumVARIANT;
use windows::Win32::System::Variant::{VariantClear, VARIANT, VT_DISPATCH};

use super::decide::{is_program, Context};
use super::fix::{is_ours, FixPlan};
use super::model::{
    join_networks, Action, Direction, FirewallState, ListedNetwork, ModifyState, Profile, ProfileState, Rule,
    UnreadableRule,
};

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("could not read the firewall ({what}: {err})")]
    Read { what: &'static str, err: windows::core::Error },
    #[error("could not read the firewall: no answer within {0:?}")]
    TimedOut(Duration),
    #[error("could not change the firewall ({what}: {err})")]
    Write { what: String, err: windows::core::Error },
    #[error("could not change the firewall: {0}; nothing was changed")]
    Gone(String),
    /// The firewall took the calls but does not hold the change: what is missing, and what it said it did.
    #[error("the firewall did not keep the change: {missing} (it accepted: {})", .done.join("; "))]
    NotHeld { missing: String, done: Vec<String> },
}

fn read_err(what: &'static str) -> impl Fn(windows::core::Error) -> FirewallError {
    move |err| FirewallError::Read { what, err }
}

fn write_err(what: String) -> impl Fn(windows::core::Error) -> FirewallError {
    move |err| FirewallError::Write { what: what.clone(), err }
}

/// COM on this thread (multithreaded apartment) for the guard's lifetime.
struct Com(bool);

impl Com {
    fn init() -> Com {
        // SAFETY: initialising COM on the current thread; undone in Drop when it succeeded.
        let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
        // RPC_E_CHANGED_MODE: the thread is already in another apartment, which serves as well.
        Com(hr.is_ok() && hr != RPC_E_CHANGED_MODE)
    }
}

impl Drop for Com {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: pairs the successful CoInitializeEx above, on the same thread.
            unsafe { CoUninitialize() };
        }
    }
}

fn policy() -> windows::core::Result<INetFwPolicy2> {
    // SAFETY: a plain COM activation on a thread where COM is initialised.
    unsafe { CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER) }
}

/// Calls `f` with each rule of the collection, through its `IEnumVARIANT`.
fn each_rule(rules: &INetFwRules, mut f: impl FnMut(INetFwRule)) -> windows::core::Result<()> {
    // SAFETY: COM calls on live interfaces; each VARIANT filled by Next is read once and cleared.
    unsafe {
        let en: IEnumVARIANT = rules._NewEnum()?.cast()?;
        loop {
            let mut v = [VARIANT::default()];
            let mut fetched = 0u32;
            let hr = en.Next(&mut v, &mut fetched);
            if hr.is_err() || fetched == 0 {
                hr.ok()?;
                return Ok(());
            }
            let inner = &v[0].Anonymous.Anonymous;
            let rule = if inner.vt == VT_DISPATCH {
                (*inner.Anonymous.pdispVal).as_ref().and_then(|d: &IDispatch| d.cast::<INetFwRule>().ok())
            } else {
                None
            };
            let _ = VariantClear(&mut v[0]);
            if let Some(r) = rule {
                f(r);
            }
        }
    }
}

/// One rule's fields, or what could be read of a rule whose properties did not all read. A text
/// property a rule does not have (no program, no group) reads as empty, as the firewall reports it.
fn rule_of(r: &INetFwRule) -> Result<Rule, UnreadableRule> {
    // SAFETY: property reads on a live INetFwRule.
    unsafe {
        let name = r.Name().map(|s| s.to_string());
        let enabled = r.Enabled().map(|b| b.0 != 0);
        let direction = r.Direction().map(|d| if d == NET_FW_RULE_DIR_IN { Direction::In } else { Direction::Out });
        let action = r.Action().map(|a| if a == NET_FW_ACTION_BLOCK { Action::Block } else { Action::Allow });
        let fields = (|| {
            Ok::<_, (&'static str, windows::core::Error)>((
                r.Profiles().map_err(|e| ("Profiles", e))? as u32,
                r.Protocol().map_err(|e| ("Protocol", e))?,
                r.LocalPorts().map_err(|e| ("LocalPorts", e))?.to_string(),
                r.ApplicationName().map_err(|e| ("ApplicationName", e))?.to_string(),
                r.RemoteAddresses().map_err(|e| ("RemoteAddresses", e))?.to_string(),
            ))
        })();
        let unreadable = |error: String| UnreadableRule {
            name: name.as_ref().ok().cloned().unwrap_or_default(),
            enabled: enabled.as_ref().ok().copied(),
            direction: direction.as_ref().ok().copied(),
            action: action.as_ref().ok().copied(),
            error,
        };
        let first_err = [
            ("Name", name.as_ref().err()),
            ("Enabled", enabled.as_ref().err()),
            ("Direction", direction.as_ref().err()),
            ("Action", action.as_ref().err()),
        ]
        .into_iter()
        .find_map(|(what, e)| e.map(|e| format!("{what}: {e}")));
        if let Some(e) = first_err {
            return Err(unreadable(e));
        }
        let (profiles, protocol, local_ports, application, remote_addresses) =
            fields.map_err(|(what, e)| unreadable(format!("{what}: {e}")))?;
        Ok(Rule {
            name: name.unwrap_or_default(),
            description: r.Description().map(|s| s.to_string()).unwrap_or_default(),
            enabled: enabled.unwrap_or(false),
            direction: direction.unwrap_or(Direction::In),
            action: action.unwrap_or(Action::Block),
            profiles,
            protocol,
            local_ports,
            application,
            remote_addresses,
            grouping: r.Grouping().map(|s| s.to_string()).unwrap_or_default(),
        })
    }
}

/// The connected networks with their category and the adapter GUID of each connection.
fn listed_networks() -> windows::core::Result<Vec<ListedNetwork>> {
    // SAFETY: COM activation and enumeration on a thread where COM is initialised.
    unsafe {
        let nlm: INetworkListManager = CoCreateInstance(&NetworkListManager, None, CLSCTX_ALL)?;
        let en = nlm.GetNetworks(NLM_ENUM_NETWORK_CONNECTED)?;
        let mut out = Vec::new();
        loop {
            let mut one: [Option<INetwork>; 1] = [None];
            let mut fetched = 0u32;
            en.Next(&mut one, Some(&mut fetched))?;
            let Some(n) = one[0].take().filter(|_| fetched == 1) else { return Ok(out) };
            let category = match n.GetCategory()? {
                NLM_NETWORK_CATEGORY_PRIVATE => Profile::Private,
                NLM_NETWORK_CATEGORY_DOMAIN_AUTHENTICATED => Profile::Domain,
                _ => Profile::Public,
            };
            let mut adapter_ids = Vec::new();
            let conns = n.GetNetworkConnections()?;
            loop {
                let mut c: [Option<INetworkConnection>; 1] = [None];
                let mut got = 0u32;
                conns.Next(&mut c, Some(&mut got))?;
                let Some(c) = c[0].take().filter(|_| got == 1) else { break };
                if let Ok(id) = c.GetAdapterId() {
                    adapter_ids.push(format!("{id:?}"));
                }
            }
            out.push(ListedNetwork {
                name: n.GetName().map(|s| s.to_string()).unwrap_or_default(),
                category,
                adapter_ids,
            });
        }
    }
}

/// Reads the profiles, whether local rules take effect, the connected networks with their
/// adapters, and every inbound rule. Runs on the calling thread.
pub fn read() -> Result<FirewallState, FirewallError> {
    let _com = Com::init();
    let p = policy().map_err(read_err("INetFwPolicy2"))?;
    let mut st = FirewallState::default();
    // SAFETY: property reads on a live INetFwPolicy2.
    unsafe {
        for profile in Profile::ALL {
            let t = NET_FW_PROFILE_TYPE2(profile.bit() as i32);
            st.profiles.push(ProfileState {
                profile,
                enabled: p.get_FirewallEnabled(t).map_err(read_err("whether the firewall is on"))?.0 != 0,
                default_inbound_block: p.get_DefaultInboundAction(t) != Ok(NET_FW_ACTION_ALLOW),
                block_all_inbound: p.get_BlockAllInboundTraffic(t).is_ok_and(|b| b.0 != 0),
            });
        }
        st.modify_state = match p.LocalPolicyModifyState() {
            Ok(NET_FW_MODIFY_STATE_OK) => ModifyState::Local,
            Ok(NET_FW_MODIFY_STATE_GP_OVERRIDE) => ModifyState::GroupPolicy,
            Ok(NET_FW_MODIFY_STATE_INBOUND_BLOCKED) => ModifyState::InboundBlocked,
            Ok(other) => ModifyState::Unknown(format!("state {}", other.0)),
            Err(e) => ModifyState::Unknown(e.to_string()),
        };
        let rules = p.Rules().map_err(read_err("the rules"))?;
        each_rule(&rules, |r| match rule_of(&r) {
            Ok(rule) if rule.direction == Direction::In => st.rules.push(rule),
            Ok(_) => {}
            Err(u) => st.unreadable.push(u),
        })
        .map_err(read_err("the rules"))?;
    }
    // Without the network list the headsets' network is unknown (said so), not an error.
    let adapters = super::winnet::adapters().unwrap_or_default();
    st.networks = join_networks(listed_networks().unwrap_or_default(), &adapters);
    Ok(st)
}

/// [`read`] on a thread of its own (COM stays off the caller's thread), waiting at most `limit`: a
/// firewall service that does not answer gives an error, not a hang.
pub fn read_within(limit: Duration) -> Result<FirewallState, FirewallError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("firewall-read".into()).spawn(move || {
        let _ = tx.send(read());
    });
    if spawned.is_err() {
        return read();
    }
    rx.recv_timeout(limit).unwrap_or(Err(FirewallError::TimedOut(limit)))
}

/// The report for this program, `ports` and the address in the QR code: the firewall read within
/// `limit`, and who listens on the Runtime's ports.
pub fn report_here(
    ports: &super::Ports,
    primary: Option<IpAddr>,
    limit: Duration,
) -> Result<super::Report, FirewallError> {
    let st = read_within(limit)?;
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let programs = super::our_programs(std::path::Path::new(&exe));
    let runtime = super::winnet::runtime(ports);
    let var = |n: &str| std::env::var(n).ok();
    let cx = Context { exe: &exe, programs: &programs, var: &var, primary, runtime: &runtime };
    Ok(super::evaluate(&st, &super::rules(ports), &cx))
}

/// Every rule with its interface (for changes).
fn all_rules(rules: &INetFwRules) -> Result<Vec<(INetFwRule, Rule)>, FirewallError> {
    let mut found = Vec::new();
    each_rule(rules, |r| {
        if let Ok(rule) = rule_of(&r) {
            found.push((r, rule));
        }
    })
    .map_err(write_err("the rules".into()))?;
    Ok(found)
}

/// Removes one rule exactly: renamed to a name nobody else has, then removed by that name
/// (`INetFwRules::Remove` takes a name, and a user's rule may share ours).
fn remove_exactly(rules: &INetFwRules, r: &INetFwRule, rule: &Rule, n: usize) -> Result<String, FirewallError> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let unique = format!("CXR Gate: being removed {}-{n}-{nanos}", std::process::id());
    let what = || format!("removing \"{}\"", rule.name);
    // SAFETY: COM calls on live interfaces; the BSTR outlives each call.
    unsafe {
        r.SetName(&BSTR::from(unique.as_str())).map_err(write_err(what()))?;
        rules.Remove(&BSTR::from(unique.as_str())).map_err(write_err(what()))?;
    }
    Ok(format!("removed CXR Gate's \"{}\" ({})", rule.name, rule.shape()))
}

/// Applies a plan (needs an elevated process): checks that each block rule to disable is still
/// there, bound to this program (`exe`) by path, before changing anything; disables them; replaces
/// our rules of the same names with the plan's. Returns what it did, a line per rule.
pub fn apply(plan: &FixPlan, exe: &str) -> Result<Vec<String>, FirewallError> {
    let _com = Com::init();
    let p = policy().map_err(write_err("INetFwPolicy2".into()))?;
    let var = |n: &str| std::env::var(n).ok();
    let programs = super::our_programs(std::path::Path::new(exe));
    let mut done = Vec::new();
    // SAFETY: COM calls on live interfaces; BSTRs outlive the calls they are passed to.
    unsafe {
        let rules = p.Rules().map_err(write_err("the rules".into()))?;
        let found = all_rules(&rules)?;
        let mut to_disable = Vec::new();
        for d in &plan.disable {
            let hits: Vec<&(INetFwRule, Rule)> =
                found.iter().filter(|(_, r)| d.matches(r) && is_program(r, &programs, &var)).collect();
            if hits.is_empty() {
                return Err(FirewallError::Gone(format!(
                    "no enabled inbound block rule \"{}\" for {exe} is there any more",
                    d.name
                )));
            }
            to_disable.extend(hits);
        }
        for (r, rule) in to_disable {
            r.SetEnabled(VARIANT_FALSE).map_err(write_err(format!("disabling \"{}\"", rule.name)))?;
            done.push(format!("disabled \"{}\" ({})", rule.name, rule.shape()));
        }
        for (n, a) in plan.add.iter().enumerate() {
            for (r, rule) in found.iter().filter(|(_, r)| is_ours(r) && r.name == a.name()) {
                done.push(remove_exactly(&rules, r, rule, n)?);
            }
            let want = a.rule(exe);
            let what = || format!("adding \"{}\"", want.name);
            let r: INetFwRule = CoCreateInstance(&NetFwRule, None, CLSCTX_INPROC_SERVER).map_err(write_err(what()))?;
            r.SetName(&BSTR::from(want.name.as_str())).map_err(write_err(what()))?;
            r.SetDescription(&BSTR::from(want.description.as_str())).map_err(write_err(what()))?;
            r.SetGrouping(&BSTR::from(want.grouping.as_str())).map_err(write_err(what()))?;
            r.SetDirection(NET_FW_RULE_DIR_IN).map_err(write_err(what()))?;
            r.SetAction(NET_FW_ACTION_ALLOW).map_err(write_err(what()))?;
            // The protocol before the ports: the firewall refuses ports on a rule for any protocol.
            r.SetProtocol(want.protocol).map_err(write_err(what()))?;
            r.SetLocalPorts(&BSTR::from(want.local_ports.as_str())).map_err(write_err(what()))?;
            r.SetRemoteAddresses(&BSTR::from(want.remote_addresses.as_str())).map_err(write_err(what()))?;
            r.SetProfiles(want.profiles as i32).map_err(write_err(what()))?;
            if !want.application.is_empty() {
                r.SetApplicationName(&BSTR::from(want.application.as_str())).map_err(write_err(what()))?;
            }
            r.SetEnabled(VARIANT_TRUE).map_err(write_err(what()))?;
            rules.Add(&r).map_err(write_err(what()))?;
            done.push(format!("added \"{}\": {}", want.name, a.describe(exe)));
        }
        // Read back: the firewall holds what was said, or the result says it does not.
        let now: Vec<Rule> = all_rules(&rules)?.into_iter().map(|(_, r)| r).collect();
        if let Some(missing) = not_held(plan, exe, &now, &programs, &var) {
            return Err(FirewallError::NotHeld { missing, done });
        }
    }
    Ok(done)
}

/// The first change of `plan` that the rules read back do not show.
fn not_held(
    plan: &FixPlan,
    exe: &str,
    now: &[Rule],
    programs: &[String],
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    for a in &plan.add {
        let want = a.rule(exe);
        let held = now.iter().any(|r| {
            is_ours(r)
                && r.name == want.name
                && r.enabled
                && r.protocol == want.protocol
                && r.local_ports == want.local_ports
                && r.profiles == want.profiles
                && r.action == Action::Allow
                && (want.application.is_empty() || is_program(r, &programs[..1.min(programs.len())], var))
        });
        if !held {
            return Some(format!("\"{}\" is not among the rules read back", want.name));
        }
    }
    plan.disable
        .iter()
        .find(|d| now.iter().any(|r| d.matches(r) && is_program(r, programs, var)))
        .map(|d| format!("\"{}\" is still enabled", d.name))
}

/// Removes exactly CXR Gate's rules (our group and our names), for the uninstaller.
pub fn remove_ours() -> Result<Vec<String>, FirewallError> {
    let _com = Com::init();
    let p = policy().map_err(write_err("INetFwPolicy2".into()))?;
    // SAFETY: COM calls on a live INetFwPolicy2.
    let rules = unsafe { p.Rules() }.map_err(write_err("the rules".into()))?;
    let mut done = Vec::new();
    for (n, (r, rule)) in all_rules(&rules)?.iter().filter(|(_, r)| is_ours(r)).enumerate() {
        done.push(remove_exactly(&rules, r, rule, n)?);
    }
    if done.is_empty() {
        done.push("no rule of CXR Gate's was there to remove".into());
    }
    Ok(done)
}

/// The headless binary's few lines at start: the verdict for `ports`, this program and the
/// address in the QR code, or why the firewall could not be read.
pub fn startup_lines(ports: &super::Ports, primary: Option<IpAddr>, limit: Duration) -> Vec<String> {
    match report_here(ports, primary, limit) {
        Ok(r) => r.lines(),
        Err(e) => vec![format!("Windows Firewall: {e}")],
    }
}
