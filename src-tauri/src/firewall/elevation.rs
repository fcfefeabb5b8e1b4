//! Whether "Fix the firewall" may re-run this program as administrator: never from a folder a
//! user can write to (a portable copy in Downloads: another program could put its own code there
//! and have it run elevated). The program file, its folder and each folder above must grant
//! change rights to administrators, SYSTEM and TrustedInstaller only, and be owned by one of them:
//! a per-machine install under Program Files passes. The decision is a plain function of the
//! access-control lists, tested on every platform; reading them (`GetNamedSecurityInfoW`) is Windows'.

/// One access-control entry of a DACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// The trustee as a string SID (`S-1-5-32-545`).
    pub sid: String,
    pub allow: bool,
    pub mask: u32,
    /// `INHERIT_ONLY_ACE`: for the children only, not this object.
    pub inherit_only: bool,
}

/// An object's owner and DACL; `aces: None` is a NULL DACL (everyone has full access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub owner: String,
    pub aces: Option<Vec<Ace>>,
}

/// What an object is to the program: the rights that let a user swap the code differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The .exe itself: writing, deleting or re-permissioning it.
    File,
    /// Its folder: adding a file (a DLL it would load), a folder, deleting or renaming children.
    Folder,
    /// A folder above: deleting or renaming the child folder, re-permissioning.
    Above,
}

const FILE_WRITE_DATA: u32 = 0x2; // FILE_ADD_FILE on a folder
const FILE_APPEND_DATA: u32 = 0x4; // FILE_ADD_SUBDIRECTORY on a folder
const FILE_DELETE_CHILD: u32 = 0x40;
const DELETE: u32 = 0x1_0000;
const WRITE_DAC: u32 = 0x4_0000;
const WRITE_OWNER: u32 = 0x8_0000;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;

impl Kind {
    fn risky(self) -> u32 {
        let always = DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL | GENERIC_WRITE;
        match self {
            Kind::File => always | FILE_WRITE_DATA | FILE_APPEND_DATA,
            Kind::Folder => always | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD,
            Kind::Above => always | FILE_DELETE_CHILD,
        }
    }
}

/// SYSTEM, Administrators, TrustedInstaller; CREATOR OWNER only stands in for an owner in inherited entries.
const TRUSTED: [&str; 4] =
    ["S-1-5-18", "S-1-5-32-544", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", "S-1-3-0"];
/// OWNER RIGHTS: the owner's rights, whoever that is.
const OWNER_RIGHTS: &str = "S-1-3-4";

fn who(sid: &str) -> String {
    match sid {
        "S-1-1-0" => "Everyone".into(),
        "S-1-5-11" => "Authenticated Users".into(),
        "S-1-5-32-545" => "Users".into(),
        "S-1-5-4" => "INTERACTIVE".into(),
        "S-1-5-32-546" => "Guests".into(),
        other => format!("the account {other}"),
    }
}

/// Who other than administrators can change the object, if anyone.
pub fn writable_by(acl: &Acl, kind: Kind) -> Option<String> {
    if !TRUSTED.contains(&acl.owner.as_str()) {
        return Some(format!("{} (its owner)", who(&acl.owner)));
    }
    let Some(aces) = &acl.aces else { return Some("Everyone (it has no access list)".into()) };
    aces.iter()
        .filter(|a| a.allow && !a.inherit_only && a.mask & kind.risky() != 0)
        .find(|a| !TRUSTED.contains(&a.sid.as_str()) && a.sid != OWNER_RIGHTS)
        .map(|a| who(&a.sid))
}

/// The decision for `exe`: each object from the program file up to the root, with its ACL or why
/// it could not be read. Err: the sentence the window shows instead of the administrator prompt.
pub fn check(exe: &str, objects: &[(Kind, String, Result<Acl, String>)]) -> Result<(), String> {
    let refuse = |why: String| {
        Err(format!(
            "CXR Gate does not run itself as administrator from here ({exe}): {why}, so another program could put \
             its own code in CXR Gate's place. Install CXR Gate with its installer (it installs to Program Files \
             and adds the firewall rules), or make the changes listed as an administrator yourself."
        ))
    };
    for (kind, path, acl) in objects {
        match acl {
            Err(e) => return refuse(format!("the permissions of {path} could not be read ({e})")),
            Ok(acl) => {
                if let Some(w) = writable_by(acl, *kind) {
                    return refuse(format!("{w} can change {path}"));
                }
            }
        }
    }
    if objects.is_empty() {
        return refuse("its folder is unknown".into());
    }
    Ok(())
}

/// The program file, its folder, and the folders above it, as `check` takes them.
pub fn objects(exe: &std::path::Path) -> Vec<(Kind, std::path::PathBuf)> {
    let mut v = vec![(Kind::File, exe.to_path_buf())];
    let mut dir = exe.parent();
    let mut kind = Kind::Folder;
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        v.push((kind, d.to_path_buf()));
        kind = Kind::Above;
        dir = d.parent();
    }
    v
}

/// Reads each object's owner and DACL and decides (Windows).
#[cfg(windows)]
pub fn check_exe(exe: &std::path::Path) -> Result<(), String> {
    let read: Vec<(Kind, String, Result<Acl, String>)> =
        objects(exe).into_iter().map(|(k, p)| (k, p.display().to_string(), read_acl(&p))).collect();
    check(&exe.display().to_string(), &read)
}

#[cfg(windows)]
fn read_acl(path: &std::path::Path) -> Result<Acl, String> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::{LocalFree, ERROR_SUCCESS};
    use windows_sys::Win32::Security::Authorization::{ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT};
    use windows_sys::Win32::Security::{
        GetAce, ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, INHERIT_ONLY_ACE,
        OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    };

    // SAFETY: `sid` points into a security descriptor that is alive; the string is freed once.
    unsafe fn sid_text(sid: PSID) -> Result<String, String> {
        let mut s: *mut u16 = std::ptr::null_mut();
        if ConvertSidToStringSidW(sid, &mut s) == 0 || s.is_null() {
            return Err("a SID could not be read".into());
        }
        let len = (0..).take_while(|&i| *s.add(i) != 0).count();
        let text = String::from_utf16_lossy(std::slice::from_raw_parts(s, len));
        LocalFree(s.cast());
        Ok(text)
    }

    let wide: Vec<u16> = path.as_os_str().encode_wide().chain(std::iter::once(0)).collect();
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path; the out-pointers point into `sd`, freed below after the last use.
    unsafe {
        let rc = GetNamedSecurityInfoW(
            wide.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        );
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32).to_string());
        }
        let read = (|| {
            let owner = if owner.is_null() { String::new() } else { sid_text(owner)? };
            if dacl.is_null() {
                return Ok(Acl { owner, aces: None });
            }
            let mut aces = Vec::new();
            for i in 0..u32::from((*dacl).AceCount) {
                let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
                if GetAce(dacl, i, &mut ace) == 0 || ace.is_null() {
                    return Err(format!("entry {i} of the access list could not be read"));
                }
                let header = &*(ace as *const ACE_HEADER);
                // ACCESS_ALLOWED(_CALLBACK) and ACCESS_DENIED(_CALLBACK): the same layout up to the SID.
                let allow = match header.AceType {
                    0 | 9 => true,
                    1 | 10 => false,
                    _ => continue,
                };
                let body = &*(ace as *const ACCESS_ALLOWED_ACE);
                let sid = sid_text(std::ptr::addr_of!(body.SidStart) as PSID)?;
                aces.push(Ace {
                    sid,
                    allow,
                    mask: body.Mask,
                    inherit_only: u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0,
                });
            }
            Ok(Acl { owner, aces: Some(aces) })
        })();
        LocalFree(sd.cast());
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMINS: &str = "S-1-5-32-544";
    const SYSTEM: &str = "S-1-5-18";
    const TI: &str = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
    const USERS: &str = "S-1-5-32-545";
    const AUTH: &str = "S-1-5-11";
    const ME: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";

    fn ace(sid: &str, mask: u32, inherit_only: bool) -> Ace {
        Ace { sid: sid.into(), allow: true, mask, inherit_only }
    }

    /// `C:\Program Files\CXR Gate` as a per-machine install leaves it (inherited from Program Files):
    /// TrustedInstaller, SYSTEM and Administrators change it; Users read and execute; CREATOR OWNER
    /// full control for children only.
    fn program_files(owner: &str) -> Acl {
        Acl {
            owner: owner.into(),
            aces: Some(vec![
                ace(TI, 0x001F_01FF, false),
                ace(SYSTEM, 0x001301BF, false),
                ace(ADMINS, 0x001301BF, false),
                ace(USERS, 0x001200A9, false),
                ace("S-1-3-0", GENERIC_ALL, true),
                ace("S-1-15-2-1", 0x001200A9, false),
            ]),
        }
    }

    /// `C:\`: Authenticated Users may create folders here (this folder only) and modify below (inherit-only).
    fn root() -> Acl {
        Acl {
            owner: TI.into(),
            aces: Some(vec![
                ace(ADMINS, 0x001F_01FF, false),
                ace(SYSTEM, 0x001F_01FF, false),
                ace(USERS, 0x001200A9, false),
                ace(AUTH, FILE_APPEND_DATA, false),
                ace(AUTH, 0xE001_0000, true),
            ]),
        }
    }

    /// A folder in the user's profile: owned by the user, full control for the user.
    fn downloads() -> Acl {
        Acl {
            owner: ME.into(),
            aces: Some(vec![
                ace(SYSTEM, 0x001F_01FF, false),
                ace(ADMINS, 0x001F_01FF, false),
                ace(ME, 0x001F_01FF, false),
            ]),
        }
    }

    fn objs(exe: &str) -> Vec<(Kind, String)> {
        objects(std::path::Path::new(exe)).into_iter().map(|(k, p)| (k, p.display().to_string())).collect()
    }

    #[test]
    fn a_per_machine_install_may_elevate_a_copy_users_can_change_may_not() {
        let exe = r"C:\Program Files\CXR Gate\cxr-gate.exe";
        let installed = [
            (Kind::File, exe.to_string(), Ok(program_files(ADMINS))),
            (Kind::Folder, r"C:\Program Files\CXR Gate".to_string(), Ok(program_files(ADMINS))),
            (Kind::Above, r"C:\Program Files".to_string(), Ok(program_files(TI))),
            (Kind::Above, r"C:\".to_string(), Ok(root())),
        ];
        assert_eq!(check(exe, &installed), Ok(()));
        // A portable copy in Downloads: the user owns the folder.
        let portable = r"C:\Users\me\Downloads\cxr-gate.exe";
        let copy = [
            (Kind::File, portable.to_string(), Ok(downloads())),
            (Kind::Folder, r"C:\Users\me\Downloads".to_string(), Ok(downloads())),
        ];
        let err = check(portable, &copy).unwrap_err();
        assert!(
            err.starts_with(
                "CXR Gate does not run itself as administrator from here (C:\\Users\\me\\Downloads\\cxr-gate.exe): \
                 the account S-1-5-21-1004336348-1177238915-682003330-1001 (its owner) can change C:\\Users\\me\\Downloads\\cxr-gate.exe"
            ),
            "{err}"
        );
        assert!(err.ends_with("Install CXR Gate with its installer (it installs to Program Files and adds the firewall rules), or make the changes listed as an administrator yourself."));
        // An admin-owned folder where Users may add files (C:\Tools with "Modify" for Users).
        let mut tools = program_files(ADMINS);
        tools.aces.as_mut().unwrap().push(ace(USERS, 0x001301BF, false));
        let open = [
            (Kind::File, "C:\\Tools\\cxr-gate.exe".to_string(), Ok(program_files(ADMINS))),
            (Kind::Folder, "C:\\Tools".to_string(), Ok(tools)),
        ];
        assert!(check("C:\\Tools\\cxr-gate.exe", &open).unwrap_err().contains("Users can change C:\\Tools"));
        // A NULL DACL, and a list that could not be read, are refused too.
        let null = [(Kind::File, exe.to_string(), Ok(Acl { owner: ADMINS.into(), aces: None }))];
        assert!(check(exe, &null).unwrap_err().contains("Everyone (it has no access list) can change"));
        let unread = [(Kind::File, exe.to_string(), Err("Access is denied. (os error 5)".to_string()))];
        assert!(check(exe, &unread).unwrap_err().contains("the permissions of C:\\Program Files\\CXR Gate\\cxr-gate.exe could not be read (Access is denied. (os error 5))"));
        // The rights that matter differ: creating a folder in C:\ is not changing what is in it.
        assert_eq!(writable_by(&root(), Kind::Above), None);
        assert_eq!(writable_by(&root(), Kind::Folder).as_deref(), Some("Authenticated Users"));
    }

    #[cfg(windows)]
    #[test]
    fn objects_go_from_the_file_up_to_the_root() {
        assert_eq!(
            objs(r"C:\Program Files\CXR Gate\cxr-gate.exe"),
            [
                (Kind::File, r"C:\Program Files\CXR Gate\cxr-gate.exe".to_string()),
                (Kind::Folder, r"C:\Program Files\CXR Gate".to_string()),
                (Kind::Above, r"C:\Program Files".to_string()),
                (Kind::Above, r"C:\".to_string()),
            ]
        );
    }

    #[cfg(not(windows))]
    #[test]
    fn objects_go_from_the_file_up_to_the_root() {
        assert_eq!(
            objs("/opt/cxr-gate/cxr-gate"),
            [
                (Kind::File, "/opt/cxr-gate/cxr-gate".to_string()),
                (Kind::Folder, "/opt/cxr-gate".to_string()),
                (Kind::Above, "/opt".to_string()),
                (Kind::Above, "/".to_string()),
            ]
        );
    }

    /// Windows (wine in the Windows stage): the ACLs of this test program's path read without a
    /// crash, and the decision is one of the two (wine's files say little about real ones).
    #[cfg(windows)]
    #[test]
    fn the_acl_read_answers_for_this_program() {
        let exe = std::env::current_exe().unwrap();
        match check_exe(&exe) {
            Ok(()) => println!("{} may elevate", exe.display()),
            Err(e) => {
                println!("{e}");
                assert!(e.starts_with("CXR Gate does not run itself as administrator from here"), "{e}");
            }
        }
    }
}
