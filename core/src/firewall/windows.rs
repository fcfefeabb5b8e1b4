//! Windows only: reads the Windows Firewall (`INetFwPolicy2`: profiles, rules) and the network list
//! (`INetworkListManager`: each connected network's name and category) through COM, and applies a
//! [`FixPlan`] through the same interfaces (the elevated `firewall-fix` run). Numbers and the
//! firewall's own syntax come back, the same in every display language. Kept small: what the data
//! means is `evaluate.rs`'s business.

use std::sync::mpsc;
use std::time::Duration;

use windows::core::{Interface, BSTR};
use windows::Win32::Foundation::{RPC_E_CHANGED_MODE, VARIANT_FALSE, VARIANT_TRUE};
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, INetFwRules, NetFwPolicy2, NetFwRule, NET_FW_ACTION_ALLOW, NET_FW_ACTION_BLOCK,
    NET_FW_PROFILE2_ALL, NET_FW_PROFILE_TYPE2, NET_FW_RULE_DIR_IN,
};
use windows::Win32::Networking::NetworkListManager::{
    INetwork, INetworkListManager, NetworkListManager, NLM_ENUM_NETWORK_CONNECTED,
    NLM_NETWORK_CATEGORY_DOMAIN_AUTHENTICATED, NLM_NETWORK_CATEGORY_PRIVATE,
};
use windows::Win32::System::Com::{
    CoCreateInstance, CoInitializeEx, CoUninitialize, IDispatch, CLSCTX_ALL, CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED,
};
use windows::Win32::System::Ole::IEnumVARIANT;
use windows::Win32::System::Variant::{VariantClear, VARIANT, VT_DISPATCH};

use super::fix::FixPlan;
use super::model::{Action, Direction, FirewallState, Network, Profile, ProfileState, Rule};

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("could not read the firewall ({what}: {err})")]
    Read { what: &'static str, err: windows::core::Error },
    #[error("could not read the firewall: no answer within {0:?}")]
    TimedOut(Duration),
    #[error("could not change the firewall ({what}: {err})")]
    Write { what: String, err: windows::core::Error },
}

fn read_err(what: &'static str) -> impl Fn(windows::core::Error) -> FirewallError {
    move |err| FirewallError::Read { what, err }
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

fn text(b: windows::core::Result<BSTR>) -> String {
    b.map(|s| s.to_string()).unwrap_or_default()
}

/// One rule's fields (a field the rule cannot report reads as empty).
fn rule_of(r: &INetFwRule) -> windows::core::Result<Rule> {
    // SAFETY: property reads on a live INetFwRule.
    unsafe {
        Ok(Rule {
            name: text(r.Name()),
            description: text(r.Description()),
            enabled: r.Enabled()?.0 != 0,
            direction: if r.Direction()? == NET_FW_RULE_DIR_IN { Direction::In } else { Direction::Out },
            action: if r.Action()? == NET_FW_ACTION_BLOCK { Action::Block } else { Action::Allow },
            profiles: r.Profiles()? as u32,
            protocol: r.Protocol()?,
            local_ports: text(r.LocalPorts()),
            application: text(r.ApplicationName()),
            remote_addresses: text(r.RemoteAddresses()),
            grouping: text(r.Grouping()),
        })
    }
}

fn networks() -> windows::core::Result<Vec<Network>> {
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
            out.push(Network { name: text(n.GetName()), category });
        }
    }
}

/// Reads the profiles, the connected networks and every inbound rule. Runs on the calling thread.
pub fn read() -> Result<FirewallState, FirewallError> {
    let _com = Com::init();
    let p = policy().map_err(read_err("INetFwPolicy2"))?;
    let mut st = FirewallState::default();
    // SAFETY: property reads on a live INetFwPolicy2.
    unsafe {
        st.current_profiles = p.CurrentProfileTypes().map_err(read_err("the current profile"))? as u32;
        for profile in Profile::ALL {
            let t = NET_FW_PROFILE_TYPE2(profile.bit() as i32);
            st.profiles.push(ProfileState {
                profile,
                enabled: p.get_FirewallEnabled(t).map_err(read_err("whether the firewall is on"))?.0 != 0,
                default_inbound_block: p.get_DefaultInboundAction(t) != Ok(NET_FW_ACTION_ALLOW),
                block_all_inbound: p.get_BlockAllInboundTraffic(t).is_ok_and(|b| b.0 != 0),
            });
        }
        let rules = p.Rules().map_err(read_err("the rules"))?;
        each_rule(&rules, |r| {
            if let Ok(rule) = rule_of(&r) {
                if rule.direction == Direction::In {
                    st.rules.push(rule);
                }
            }
        })
        .map_err(read_err("the rules"))?;
    }
    // The network names are for the card's lines; the verdict does not need them.
    st.networks = networks().unwrap_or_default();
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

fn write_err(what: String) -> impl Fn(windows::core::Error) -> FirewallError {
    move |err| FirewallError::Write { what: what.clone(), err }
}

/// Applies the fix (needs an elevated process): disables each enabled inbound program block rule
/// named in `plan.disable`, and adds each allow rule (all profiles, local subnet), updating a
/// same-named allow rule of ours in place rather than adding a second one. Returns what it did.
pub fn apply(plan: &FixPlan) -> Result<Vec<String>, FirewallError> {
    let _com = Com::init();
    let p = policy().map_err(write_err("INetFwPolicy2".into()))?;
    let mut done = Vec::new();
    // SAFETY: COM calls on live interfaces; BSTRs outlive the calls they are passed to.
    unsafe {
        let rules = p.Rules().map_err(write_err("the rules".into()))?;
        let mut found: Vec<(INetFwRule, Rule)> = Vec::new();
        each_rule(&rules, |r| {
            if let Ok(rule) = rule_of(&r) {
                found.push((r, rule));
            }
        })
        .map_err(write_err("the rules".into()))?;
        for name in &plan.disable {
            for (r, rule) in &found {
                let program_block = rule.direction == Direction::In
                    && rule.action == Action::Block
                    && rule.enabled
                    && !rule.application.trim().is_empty();
                if program_block && rule.name == *name {
                    r.SetEnabled(VARIANT_FALSE).map_err(write_err(format!("disabling \"{name}\"")))?;
                    done.push(format!("disabled \"{name}\" ({})", rule.shape()));
                }
            }
        }
        for a in &plan.allow {
            let what = || format!("the rule \"{}\"", a.name);
            let ports = a.ports_text();
            let existing = found.iter().find(|(_, r)| {
                r.name == a.name
                    && r.direction == Direction::In
                    && r.action == Action::Allow
                    && r.application.is_empty()
            });
            let (rule, new) = match existing {
                Some((r, _)) => (r.clone(), false),
                None => {
                    let r: INetFwRule =
                        CoCreateInstance(&NetFwRule, None, CLSCTX_INPROC_SERVER).map_err(write_err(what()))?;
                    r.SetName(&BSTR::from(a.name.as_str())).map_err(write_err(what()))?;
                    r.SetDescription(&BSTR::from("Added by CXR Gate for headsets on the local network"))
                        .map_err(write_err(what()))?;
                    r.SetDirection(NET_FW_RULE_DIR_IN).map_err(write_err(what()))?;
                    r.SetAction(NET_FW_ACTION_ALLOW).map_err(write_err(what()))?;
                    (r, true)
                }
            };
            // The protocol before the ports: the firewall refuses ports on a rule for any protocol.
            rule.SetProtocol(a.proto.number()).map_err(write_err(what()))?;
            rule.SetLocalPorts(&BSTR::from(ports.as_str())).map_err(write_err(what()))?;
            rule.SetRemoteAddresses(&BSTR::from("LocalSubnet")).map_err(write_err(what()))?;
            rule.SetProfiles(NET_FW_PROFILE2_ALL.0).map_err(write_err(what()))?;
            rule.SetEnabled(VARIANT_TRUE).map_err(write_err(what()))?;
            if new {
                rules.Add(&rule).map_err(write_err(what()))?;
            }
            let verb = if new { "added" } else { "updated" };
            done.push(format!(
                "{verb} \"{}\": allow {} {ports} in, all profiles, local subnet",
                a.name,
                a.proto.upper()
            ));
        }
    }
    Ok(done)
}

/// The headless binary's few lines at start: the verdict for `ports` and this program, or why the
/// firewall could not be read.
pub fn startup_lines(ports: &super::Ports, limit: Duration) -> Vec<String> {
    match read_within(limit) {
        Ok(st) => {
            let programs = std::env::current_exe().map(|p| super::our_programs(&p)).unwrap_or_default();
            let var = |n: &str| std::env::var(n).ok();
            super::evaluate(&st, &super::rules(ports), &super::Context { programs: &programs, var: &var }).lines()
        }
        Err(e) => vec![format!("Windows Firewall: {e}")],
    }
}
