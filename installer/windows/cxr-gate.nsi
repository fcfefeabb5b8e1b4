; CXR Gate's Windows installer: a per-machine install to Program Files with one UAC prompt, the
; firewall rules added through the app's own COM code while elevated, shortcuts, start at login,
; upgrade in place (the running app is closed with `cxr-gate.exe --quit` first) and an uninstaller
; that keeps the certificates and settings unless asked. Built by scripts/build-installer.sh with
; Debian's makensis 3.08 (no third-party plugins), which passes every name and number below from
; Cargo.toml, src-tauri/tauri.conf.json, core and icons/ (see that script): nothing is typed twice.
;
; Command line (besides NSIS's own /S and /D=folder):
;   setup.exe /S [/STARTMENU=0|1] [/DESKTOP=0|1] [/AUTOSTART=0|1] [/FIREWALL=0|1] [/MEDIA=0|1]
;   uninstall.exe /S [/REMOVEDATA]
; A fresh install's defaults are all 1; an upgrade's are what the installed copy has now.

!ifndef VERSION | VIVERSION | PRODUCT | PUBLISHER | IDENTIFIER | DESCRIPTION | EXE | PROXY_EXE | AUTOSTART_ARG
  !error "build this with scripts/build-installer.sh, which defines the names and numbers"
!endif
!ifndef SRCDIR | OUTFILE | ICON | WIZARD_BMP | PROXY_PORT | MEDIA_PORTS | BACKEND_PORT | COMPRESSOR
  !error "build this with scripts/build-installer.sh, which defines the names and numbers"
!endif

Unicode true
; 64-bit: a 32-bit stub fails silently on a wine64-only prefix, and the app is x64.
Target amd64-unicode
!if "${COMPRESSOR}" == "none"
  SetCompress off
!else
  SetCompressor /SOLID ${COMPRESSOR}
!endif
ManifestDPIAware true
RequestExecutionLevel admin

!include MUI2.nsh
!include nsDialogs.nsh
!include LogicLib.nsh
!include FileFunc.nsh
!include WinVer.nsh
!include WinMessages.nsh
!include Win\COM.nsh
!include Win\Propkey.nsh

!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
; The autostart entry is the one tauri-plugin-autostart writes for the app's Settings toggle:
; value name = the product name, data = "<exe path> <args>" (unquoted, as the plugin writes it).
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
; The WebView2 Runtime's registration, as Microsoft documents detecting it (per machine, then per user).
!define WEBVIEW2_GUID "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"
; The single-instance plugin's mutex: it exists while CXR Gate runs (the default data dir).
!define APP_MUTEX "${IDENTIFIER}-sim"
!define LOG_NAME "install.log"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
BrandingText "${PRODUCT} ${VERSION}"
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${VIVERSION}"
VIFileVersion "${VIVERSION}"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${PRODUCT} ${VERSION} setup"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}"

!ifdef SIGN_COMMAND
  ; The uninstaller is written inside makensis: sign it there (the exes and setup.exe are signed
  ; by the build script).
  !uninstfinalize '${SIGN_COMMAND} "%1"'
!endif

Var OptStartMenu
Var OptDesktop
Var OptAutostart
Var OptFirewall
Var OptMedia
Var PrevVersion
Var RemoveData
Var FinishNotes
Var WebView2
Var ChkStartMenu
Var ChkDesktop
Var ChkAutostart
Var ChkFirewall
Var ChkMedia
Var ChkRemoveData

; ---------------------------------------------------------------------------------------------
; Pages

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_WELCOMEFINISHPAGE_BITMAP "${WIZARD_BMP}"
!define MUI_UNWELCOMEFINISHPAGE_BITMAP "${WIZARD_BMP}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_NOAUTOCLOSE
!define MUI_UNFINISHPAGE_NOAUTOCLOSE

!define MUI_WELCOMEPAGE_TITLE "Welcome to ${PRODUCT} ${VERSION}"
!define MUI_WELCOMEPAGE_TEXT "${PRODUCT} lets headset browsers (Meta Quest 3, Pico 4 Ultra, Chrome) reach the NVIDIA CloudXR Runtime on this PC over wss://, with the certificate they need.$\r$\n$\r$\nSetup installs it for all users of this PC, in Program Files, and can let headsets through Windows Firewall on private networks: that is why Windows asked for an administrator once.$\r$\n$\r$\nClick Next to continue."
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
Page custom OptionsPage OptionsLeave
!insertmacro MUI_PAGE_INSTFILES
!define MUI_FINISHPAGE_TITLE "${PRODUCT} is installed"
!define MUI_FINISHPAGE_TEXT "$FinishNotes"
!define MUI_FINISHPAGE_TEXT_LARGE
!define MUI_FINISHPAGE_RUN
!define MUI_FINISHPAGE_RUN_TEXT "Start ${PRODUCT}"
!define MUI_FINISHPAGE_RUN_FUNCTION StartApp
!define MUI_PAGE_CUSTOMFUNCTION_SHOW FinishShow
!insertmacro MUI_PAGE_FINISH

UninstPage custom un.DataPage un.DataLeave
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

; ---------------------------------------------------------------------------------------------
; Shared by installer and uninstaller (NSIS wants the uninstaller's functions named un.*)

!macro SHARED un
; The log: each line to the details list and to a UTF-16 text file ($INSTDIR\install.log while
; installing, %TEMP%\cxr-gate-uninstall.log while uninstalling).
Function ${un}Log
  Exch $0
  Push $1
  Push $2
  DetailPrint "$0"
  ClearErrors
  !if "${un}" == ""
    FileOpen $1 "$INSTDIR\${LOG_NAME}" a
  !else
    FileOpen $1 "$TEMP\cxr-gate-uninstall.log" a
  !endif
  ${IfNot} ${Errors}
    FileSeek $1 0 END $2
    ${If} $2 = 0
      FileWriteUTF16LE /BOM $1 ""
    ${EndIf}
    FileWriteUTF16LE $1 "$0$\r$\n"
    FileClose $1
  ${EndIf}
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

; $0 := what of CXR Gate runs ("" when nothing): its single-instance mutex, or a program file in
; use (another data dir's instance, the headless cxr-gate-proxy.exe, another user's copy).
Function ${un}AppRunning
  Push $1
  Push $2
  StrCpy $0 ""
  System::Call 'kernel32::OpenMutexW(i 0x00100000, i 0, w "${APP_MUTEX}") p.r1 ?e'
  Pop $2
  ${If} $1 P<> 0
    System::Call 'kernel32::CloseHandle(p r1)'
    StrCpy $0 "${PRODUCT}"
  ${ElseIf} $2 = 5
    StrCpy $0 "${PRODUCT} (another user's)"
  ${EndIf}
  ; Windows refuses write access to a running program's file (wine too).
  ${If} $0 == ""
  ${AndIf} ${FileExists} "$INSTDIR\${EXE}"
    ClearErrors
    FileOpen $1 "$INSTDIR\${EXE}" a
    ${If} ${Errors}
      StrCpy $0 "$INSTDIR\${EXE}"
    ${Else}
      FileClose $1
    ${EndIf}
  ${EndIf}
  ${If} $0 == ""
  ${AndIf} ${FileExists} "$INSTDIR\${PROXY_EXE}"
    ClearErrors
    FileOpen $1 "$INSTDIR\${PROXY_EXE}" a
    ${If} ${Errors}
      StrCpy $0 "$INSTDIR\${PROXY_EXE}"
    ${Else}
      FileClose $1
    ${EndIf}
  ${EndIf}
  Pop $2
  Pop $1
FunctionEnd

; Closes a running CXR Gate cleanly (`cxr-gate.exe --quit`: the single-instance plugin hands it to
; the running app, which quits as its tray's Quit does) and waits until it is really gone; after
; 30 s it asks the user to close it (silent: gives up, and setup fails with the reason in the log).
Function ${un}CloseApp
  Push $0
  Push $1
  Push $2
  Push $3
  Call ${un}AppRunning
  ${If} $0 != ""
    Push "Closing ${PRODUCT} (running: $0) with $\"${EXE} --quit$\"..."
    Call ${un}Log
    System::Call 'kernel32::GetTickCount() i.r3'
    ${Do}
      ${If} ${FileExists} "$INSTDIR\${EXE}"
        nsExec::ExecToStack '"$INSTDIR\${EXE}" --quit'
        Pop $1
        Pop $2
      ${EndIf}
      StrCpy $1 0
      ${Do}
        Sleep 250
        IntOp $1 $1 + 1
        Call ${un}AppRunning
        ${If} $0 == ""
        ${OrIf} $1 >= 120
          ${Break}
        ${EndIf}
      ${Loop}
      ${If} $0 == ""
        ${Break}
      ${EndIf}
      MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "${PRODUCT} is still running ($0).$\r$\n$\r$\nQuit it from its tray icon (or stop ${PROXY_EXE}), then click Retry." /SD IDCANCEL IDRETRY retry
      ${Break}
      retry:
    ${Loop}
    ${If} $0 != ""
      Push "Stopped: ${PRODUCT} is still running ($0) and its files cannot be replaced. Quit it from its tray icon (or stop ${PROXY_EXE}) and run setup again."
      Call ${un}Log
      Abort
    ${EndIf}
    System::Call 'kernel32::GetTickCount() i.r1'
    IntOp $3 $1 - $3
    Push "${PRODUCT} closed (after $3 ms)."
    Call ${un}Log
  ${EndIf}
  Pop $3
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

; $1 := $1 on one line: line breaks become " | ", trailing ones go (a run prints a line per rule).
Function ${un}OneLine
  Push $2
  Push $3
  Push $4
  StrCpy $2 ""
  StrCpy $3 0
  ${Do}
    StrCpy $4 $1 1 $3
    ${If} $4 == ""
      ${Break}
    ${ElseIf} $4 == "$\n"
      StrCpy $2 "$2 | "
    ${ElseIf} $4 != "$\r"
      StrCpy $2 "$2$4"
    ${EndIf}
    IntOp $3 $3 + 1
  ${Loop}
  ${Do}
    StrCpy $4 $2 3 -3
    ${If} $4 != " | "
      ${Break}
    ${EndIf}
    StrCpy $2 $2 -3
  ${Loop}
  StrCpy $1 $2
  Pop $4
  Pop $3
  Pop $2
FunctionEnd

; Logs a firewall-fix run: $0 its exit code ("error" when it could not run), $1 what it printed.
Function ${un}LogFirewall
  Call ${un}OneLine
  ${If} $0 == "0"
    Push "Firewall: done. $1"
  ${ElseIf} $0 == "1"
    Push "Firewall: NOT changed: Windows Firewall refused or failed (cxr-gate.exe firewall-fix, exit 1): $1"
  ${ElseIf} $0 == "2"
    Push "Firewall: NOT changed: cxr-gate.exe refused the firewall step's arguments (exit 2): $1"
  ${Else}
    Push "Firewall: NOT changed: cxr-gate.exe firewall-fix could not run ($0): $1"
  ${EndIf}
  Call ${un}Log
FunctionEnd
!macroend
!insertmacro SHARED ""
!insertmacro SHARED "un."

; ---------------------------------------------------------------------------------------------
; Installer

; A /NAME=0|1 option on the command line ($R0) sets var; any other value stops setup with a message.
!macro OPTION_FLAG name var
  ClearErrors
  ${GetOptions} $R0 "${name}" $R1
  ${IfNot} ${Errors}
    ${If} $R1 == "0"
    ${OrIf} $R1 == "1"
      StrCpy ${var} $R1
    ${Else}
      MessageBox MB_OK|MB_ICONSTOP "Setup option ${name}$R1: use ${name}0 or ${name}1." /SD IDOK
      SetErrorLevel 2
      Quit
    ${EndIf}
  ${EndIf}
!macroend

Function .onInit
  SetRegView 64
  SetShellVarContext all
  ; One setup at a time.
  System::Call 'kernel32::CreateMutexW(p 0, i 0, w "${IDENTIFIER}-setup") p.r1 ?e'
  Pop $0
  ${If} $0 = 183
    MessageBox MB_OK|MB_ICONEXCLAMATION "Another ${PRODUCT} setup is already running." /SD IDOK
    Abort
  ${EndIf}
  ${IfNot} ${AtLeastWin10}
    MessageBox MB_OK|MB_ICONSTOP "${PRODUCT} needs Windows 10 or 11 (64-bit)." /SD IDOK
    Abort
  ${EndIf}

  ; Defaults: everything on for a fresh install; what the installed copy has for an upgrade.
  ReadRegStr $PrevVersion HKLM "${UNINST_KEY}" "DisplayVersion"
  StrCpy $OptStartMenu 1
  StrCpy $OptDesktop 1
  StrCpy $OptAutostart 1
  StrCpy $OptFirewall 1
  StrCpy $OptMedia 1
  ${If} $PrevVersion != ""
    StrCpy $OptStartMenu 0
    StrCpy $OptDesktop 0
    StrCpy $OptAutostart 0
    ${If} ${FileExists} "$SMPROGRAMS\${PRODUCT}.lnk"
      StrCpy $OptStartMenu 1
    ${EndIf}
    ${If} ${FileExists} "$DESKTOP\${PRODUCT}.lnk"
      StrCpy $OptDesktop 1
    ${EndIf}
    ReadRegStr $0 HKCU "${RUN_KEY}" "${PRODUCT}"
    ${If} $0 != ""
      StrCpy $OptAutostart 1
    ${EndIf}
    ClearErrors
    ReadRegDWORD $0 HKLM "${UNINST_KEY}" "SetupFirewall"
    ${IfNot} ${Errors}
      StrCpy $OptFirewall $0
    ${EndIf}
    ClearErrors
    ReadRegDWORD $0 HKLM "${UNINST_KEY}" "SetupMedia"
    ${IfNot} ${Errors}
      StrCpy $OptMedia $0
    ${EndIf}
  ${EndIf}

  ${GetParameters} $R0
  !insertmacro OPTION_FLAG "/STARTMENU=" $OptStartMenu
  !insertmacro OPTION_FLAG "/DESKTOP=" $OptDesktop
  !insertmacro OPTION_FLAG "/AUTOSTART=" $OptAutostart
  !insertmacro OPTION_FLAG "/FIREWALL=" $OptFirewall
  !insertmacro OPTION_FLAG "/MEDIA=" $OptMedia

  Call WebView2Version
  Pop $WebView2
FunctionEnd


; The installed WebView2 Runtime's version, or "" (on the stack).
Function WebView2Version
  Push $0
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 == "0.0.0.0"
    StrCpy $0 ""
  ${EndIf}
  Exch $0
FunctionEnd

Function OptionsPage
  !insertmacro MUI_HEADER_TEXT "Choose options" "What setup adds to this PC besides the program."
  nsDialogs::Create 1018
  Pop $0
  ${NSD_CreateCheckbox} 0 0u 100% 11u "Start-menu entry"
  Pop $ChkStartMenu
  ${NSD_SetState} $ChkStartMenu $OptStartMenu
  ${NSD_CreateCheckbox} 0 13u 100% 11u "Desktop shortcut"
  Pop $ChkDesktop
  ${NSD_SetState} $ChkDesktop $OptDesktop
  ${NSD_CreateCheckbox} 0 26u 100% 11u "Start ${PRODUCT} when I sign in (hidden in the tray; also in its Settings)"
  Pop $ChkAutostart
  ${NSD_SetState} $ChkAutostart $OptAutostart
  ${NSD_CreateCheckbox} 0 44u 100% 11u "Let headsets reach ${PRODUCT} through Windows Firewall (TCP ${PROXY_PORT})"
  Pop $ChkFirewall
  ${NSD_SetState} $ChkFirewall $OptFirewall
  ${NSD_OnClick} $ChkFirewall OptionsFirewallClick
  ${NSD_CreateCheckbox} 12u 57u -12u 11u "and the CloudXR Runtime's video (UDP ${MEDIA_PORTS})"
  Pop $ChkMedia
  ${NSD_SetState} $ChkMedia $OptMedia
  ${NSD_CreateLabel} 12u 71u -12u 34u "On private and domain networks only: public networks stay closed. TCP ${PROXY_PORT} is the default; a port set in ${PRODUCT} is used instead. TCP ${BACKEND_PORT}, the Runtime's own port, stays closed: headsets reach it through ${PRODUCT}. Uninstalling removes exactly these rules."
  Pop $0
  ${If} $WebView2 == ""
    ${NSD_CreateLabel} 0 108u 100% 28u "The Microsoft Edge WebView2 Runtime was not found on this PC: ${PRODUCT}'s window needs it, headsets do not (the tray icon shows the QR code). The finish page links to it."
    Pop $0
  ${EndIf}
  Call OptionsFirewallClick
  nsDialogs::Show
FunctionEnd

Function OptionsFirewallClick
  ${NSD_GetState} $ChkFirewall $0
  ${If} $0 = ${BST_CHECKED}
    EnableWindow $ChkMedia 1
  ${Else}
    EnableWindow $ChkMedia 0
  ${EndIf}
FunctionEnd

Function OptionsLeave
  ${NSD_GetState} $ChkStartMenu $OptStartMenu
  ${NSD_GetState} $ChkDesktop $OptDesktop
  ${NSD_GetState} $ChkAutostart $OptAutostart
  ${NSD_GetState} $ChkFirewall $OptFirewall
  ${NSD_GetState} $ChkMedia $OptMedia
  ; In the wizard, ask before closing a running CXR Gate (the install section closes it).
  Call AppRunning
  ${If} $0 != ""
    MessageBox MB_OKCANCEL|MB_ICONQUESTION "${PRODUCT} is running ($0). Setup closes it before it replaces the program: headsets connected through it are disconnected until it starts again.$\r$\n$\r$\nClose it and continue?" /SD IDOK IDOK close
    Abort
    close:
  ${EndIf}
FunctionEnd

Section "-${PRODUCT}" SecMain
  SetRegView 64
  SetShellVarContext all
  InitPluginsDir
  CreateDirectory "$INSTDIR"
  Push "==== ${PRODUCT} ${VERSION} setup; previous version: $PrevVersion; folder: $INSTDIR; options: start menu $OptStartMenu, desktop $OptDesktop, start at login $OptAutostart, firewall $OptFirewall, runtime media $OptMedia"
  Call Log
  Call CloseApp

  SetOutPath "$INSTDIR"
  SetOverwrite on
  File "${SRCDIR}\${EXE}"
  File "${SRCDIR}\WebView2Loader.dll"
  File "${SRCDIR}\${PROXY_EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  Push "Program files written to $INSTDIR."
  Call Log

  ; Shortcuts for all users; an upgrade without the option removes the old one.
  ${If} $OptStartMenu = 1
    CreateShortCut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0 SW_SHOWNORMAL "" "${DESCRIPTION}"
    Push "$SMPROGRAMS\${PRODUCT}.lnk"
    Call SetAppId
  ${Else}
    Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  ${EndIf}
  ${If} $OptDesktop = 1
    CreateShortCut "$DESKTOP\${PRODUCT}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0 SW_SHOWNORMAL "" "${DESCRIPTION}"
    Push "$DESKTOP\${PRODUCT}.lnk"
    Call SetAppId
  ${Else}
    Delete "$DESKTOP\${PRODUCT}.lnk"
  ${EndIf}

  ; Start at login: the entry the app's Settings toggle writes, for the user who runs setup.
  ${If} $OptAutostart = 1
    WriteRegStr HKCU "${RUN_KEY}" "${PRODUCT}" "$INSTDIR\${EXE} ${AUTOSTART_ARG}"
    ; Like the plugin: marked enabled where Task Manager keeps its Startup switches.
    ClearErrors
    EnumRegValue $0 HKCU "${APPROVED_KEY}" 0
    ${IfNot} ${Errors}
      WriteRegBin HKCU "${APPROVED_KEY}" "${PRODUCT}" 020000000000000000000000
    ${EndIf}
    Push "Start at login: on (HKCU\${RUN_KEY}, $\"${PRODUCT}$\")."
  ${Else}
    DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
    Push "Start at login: off."
  ${EndIf}
  Call Log

  ; Firewall: the app's own COM code (elevated now), with the command lines of its interface.
  ${If} $OptFirewall = 1
    ${If} $OptMedia = 1
      nsExec::ExecToStack '"$INSTDIR\${EXE}" firewall-fix --install-rules --media --result "$PLUGINSDIR\firewall.txt"'
    ${Else}
      nsExec::ExecToStack '"$INSTDIR\${EXE}" firewall-fix --install-rules --result "$PLUGINSDIR\firewall.txt"'
    ${EndIf}
    Pop $0
    Pop $1
    Call LogFirewall
    ${If} $0 != "0"
      StrCpy $FinishNotes "$FinishNotes$\r$\nFirewall: not changed (install.log says why); the app's Firewall card can fix it."
    ${EndIf}
  ${Else}
    ; An upgrade that no longer wants the rules removes the ones CXR Gate added.
    ReadRegDWORD $0 HKLM "${UNINST_KEY}" "SetupFirewall"
    ${If} $0 = 1
      nsExec::ExecToStack '"$INSTDIR\${EXE}" firewall-fix --remove-rules --result "$PLUGINSDIR\firewall.txt"'
      Pop $0
      Pop $1
      Call LogFirewall
    ${Else}
      Push "Firewall: left as it is (not chosen)."
      Call Log
    ${EndIf}
  ${EndIf}

  ${If} $WebView2 == ""
    Push "WebView2 Runtime: not found. The window needs it (${WEBVIEW2_URL}); without it headsets keep working and the tray icon shows the QR code and the trust page."
    StrCpy $FinishNotes "$FinishNotes$\r$\nWebView2 Runtime missing: the window needs it (link below); headsets work without it."
  ${Else}
    Push "WebView2 Runtime: $WebView2."
  ${EndIf}
  Call Log

  ; One Apps & features entry, the same key for every version.
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINST_KEY}" "Comments" "${DESCRIPTION}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$\"$INSTDIR\${EXE}$\",0"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" "$\"$INSTDIR\uninstall.exe$\""
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" "$\"$INSTDIR\uninstall.exe$\" /S"
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "SetupFirewall" $OptFirewall
  WriteRegDWORD HKLM "${UNINST_KEY}" "SetupMedia" $OptMedia
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKLM "${UNINST_KEY}" "EstimatedSize" $0
  Push "Apps & features: ${PRODUCT} ${VERSION} ($0 KB). Done."
  Call Log
  ${If} $FinishNotes != ""
    StrCpy $FinishNotes "$\r$\n$FinishNotes"
  ${EndIf}
  StrCpy $FinishNotes "${PRODUCT} ${VERSION} is in $INSTDIR.$FinishNotes"
SectionEnd

; Gives a shortcut (on the stack) the app's AppUserModelID, the identifier its notifications use:
; Windows shows a desktop app's toasts only for an ID that a Start-menu shortcut carries. Logs
; whether it took (wine's shell links accept it but do not save it: only Windows shows it).
Function SetAppId
  Exch $R9
  Push $0
  Push $1
  Push $2
  Push $3
  Push $R8
  Push $R7
  StrCpy $R8 "not set: no shell link object"
  !insertmacro ComHlpr_CreateInProcInstance ${CLSID_ShellLink} ${IID_IShellLink} r0 ""
  ${If} $0 P<> 0
    StrCpy $R8 "not set: the shortcut did not load"
    ${IUnknown::QueryInterface} $0 '("${IID_IPersistFile}",.r1)'
    ${If} $1 P<> 0
      ${IPersistFile::Load} $1 '("$R9",${STGM_READWRITE}).r2'
      ${If} $2 = 0
        StrCpy $R8 "not set: the shortcut has no property store"
        ${IUnknown::QueryInterface} $0 '("${IID_IPropertyStore}",.r2)'
        ${If} $2 P<> 0
          System::Call '*${SYSSTRUCT_PROPERTYKEY}(${PKEY_AppUserModel_ID})p.r3'
          System::Call '*${SYSSTRUCT_PROPVARIANT}(${VT_LPWSTR},,w "${IDENTIFIER}")p.R7'
          ${IPropertyStore::SetValue} $2 '($3,$R7)'
          ${IPropertyStore::Commit} $2 ""
          System::Free $3
          System::Free $R7
          ${IUnknown::Release} $2 ""
          ${IPersistFile::Save} $1 '("$R9",1).r2'
          ${If} $2 = 0
            StrCpy $R8 "${IDENTIFIER}"
          ${Else}
            StrCpy $R8 "not set: the shortcut could not be saved ($2)"
          ${EndIf}
        ${EndIf}
      ${EndIf}
      ${IUnknown::Release} $1 ""
    ${EndIf}
    ${IUnknown::Release} $0 ""
  ${EndIf}
  Push "Shortcut $R9 (AppUserModelID $R8)."
  Call Log
  Pop $R7
  Pop $R8
  Pop $3
  Pop $2
  Pop $1
  Pop $0
  Pop $R9
FunctionEnd

Function FinishShow
  ${If} $WebView2 == ""
    ${NSD_CreateLink} 120u 175u -130u 12u "Get the WebView2 Runtime (for the window)"
    Pop $0
    SetCtlColors $0 "0000FF" "${MUI_BGCOLOR}"
    ${NSD_OnClick} $0 OpenWebView2Page
  ${EndIf}
FunctionEnd

; The finish page's "Start CXR Gate" and the WebView2 link run un-elevated, as the signed-in user:
; explorer.exe, asked by an elevated program, hands the start to the desktop's own (un-elevated)
; Explorer, which starts it as that user. Setup itself runs elevated (one UAC prompt).
Function StartApp
  Exec '"$WINDIR\explorer.exe" "$INSTDIR\${EXE}"'
FunctionEnd

Function OpenWebView2Page
  Exec '"$WINDIR\explorer.exe" "${WEBVIEW2_URL}"'
FunctionEnd

; ---------------------------------------------------------------------------------------------
; Uninstaller

Function un.onInit
  SetRegView 64
  SetShellVarContext all
  StrCpy $RemoveData 0
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/REMOVEDATA" $R1
  ${IfNot} ${Errors}
    StrCpy $RemoveData 1
  ${EndIf}
FunctionEnd

Function un.DataPage
  !insertmacro MUI_HEADER_TEXT "Uninstall ${PRODUCT}" "Remove ${PRODUCT} from this PC."
  nsDialogs::Create 1018
  Pop $0
  ${NSD_CreateLabel} 0 0 100% 36u "This removes ${PRODUCT} from $INSTDIR: the program, its shortcuts, its start at login entry, the firewall rules it added, and its Apps && features entry."
  Pop $0
  ${NSD_CreateCheckbox} 0 40u 100% 11u "Also remove the certificates and settings"
  Pop $ChkRemoveData
  ${NSD_SetState} $ChkRemoveData $RemoveData
  ${NSD_CreateLabel} 12u 54u -12u 60u "They are kept unless you tick this: the local CA and the certificate that your headsets already accepted or installed, the log, and your settings (your %APPDATA%\${PRODUCT} and %APPDATA%\${IDENTIFIER} folders). Installing ${PRODUCT} again then needs no new accept on any headset. Remove them only if you are done with ${PRODUCT} on this PC."
  Pop $0
  GetDlgItem $0 $HWNDPARENT 1
  SendMessage $0 ${WM_SETTEXT} 0 "STR:&Uninstall"
  nsDialogs::Show
FunctionEnd

Function un.DataLeave
  ${NSD_GetState} $ChkRemoveData $RemoveData
FunctionEnd

Section "Uninstall"
  SetRegView 64
  SetShellVarContext all
  InitPluginsDir
  Delete "$TEMP\cxr-gate-uninstall.log"
  Push "==== ${PRODUCT} ${VERSION} uninstall from $INSTDIR; remove certificates and settings: $RemoveData"
  Call un.Log
  Call un.CloseApp

  ; The firewall rules CXR Gate added (the installer's and the window's Fix button's), before the
  ; program that removes them goes.
  ${If} ${FileExists} "$INSTDIR\${EXE}"
    nsExec::ExecToStack '"$INSTDIR\${EXE}" firewall-fix --remove-rules --result "$PLUGINSDIR\firewall.txt"'
    Pop $0
    Pop $1
    Call un.LogFirewall
  ${EndIf}

  ; The autostart entry (setup's or the Settings toggle's: the same one), for this user.
  DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
  DeleteRegValue HKCU "${APPROVED_KEY}" "${PRODUCT}"
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  Delete "$DESKTOP\${PRODUCT}.lnk"

  ; Exactly the files setup wrote, then the folder if nothing else is in it.
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\${PROXY_EXE}"
  Delete "$INSTDIR\${LOG_NAME}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ${If} ${FileExists} "$INSTDIR\*.*"
    Push "Kept $INSTDIR: it holds files that setup did not put there."
    Call un.Log
  ${EndIf}

  ${If} $RemoveData = 1
    ; The user's own folders (README "Where things live"): engine data, settings, WebView2 cache.
    SetShellVarContext current
    RMDir /r "$APPDATA\${PRODUCT}"
    RMDir /r "$APPDATA\${IDENTIFIER}"
    RMDir /r "$LOCALAPPDATA\${IDENTIFIER}"
    Push "Removed the certificates and settings ($APPDATA\${PRODUCT}, $APPDATA\${IDENTIFIER}, $LOCALAPPDATA\${IDENTIFIER})."
    SetShellVarContext all
  ${Else}
    Push "Kept the certificates and settings (%APPDATA%\${PRODUCT}, %APPDATA%\${IDENTIFIER})."
  ${EndIf}
  Call un.Log

  DeleteRegKey HKLM "${UNINST_KEY}"
  Push "Apps & features entry removed. Done."
  Call un.Log
SectionEnd
