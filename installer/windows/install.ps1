<#
.SYNOPSIS
Installs, or upgrades in place, the Hatchway agent as a Windows service.

.DESCRIPTION
  C:\Program Files\Hatchway\python      a private Python with Hatchway installed in it
  C:\ProgramData\Hatchway\config        agent.toml
  C:\ProgramData\Hatchway\data          the agent's key, journal and state
  C:\ProgramData\Hatchway\logs          agent.log (warnings and errors also go to the
                                        Application event log, source HatchwayAgent)

The ProgramData folders are readable by SYSTEM, Administrators and the service account
only. The service runs the private interpreter's python.exe, not a virtualenv's: a
virtualenv's python.exe is a launcher that starts the real interpreter as a child
process, and the service manager only talks to the process it started.

Running the script again upgrades Hatchway in place: the service is stopped, the new
version installed, and the service started again; settings, keys and logs stay.
See docs/install.md.

.PARAMETER Relay
Register the agent with this relay (https://...). Needs -Token.
.PARAMETER Token
One-time registration token from 'hatchway relay token create'.
.PARAMETER CaFile
PEM file of CA certificates to verify an https relay with (default: the system's).
.PARAMETER AllowInsecure
Allow a plain http relay beyond loopback (test networks only).
.PARAMETER From
Hatchway wheel, sdist or source folder (default: the checkout this script is in).
.PARAMETER Offline
Folder of wheels to install from without network access (see docs/install.md).
.PARAMETER PythonPackage
The python.<version>.nupkg package from nuget.org (default: downloaded).
.PARAMETER PythonVersion
Python version to download when -PythonPackage is not given.
.PARAMETER InstallDir
Where the private Python goes.
.PARAMETER ProgramData
The folder Hatchway\ is created in.
.PARAMETER Account
Account the service runs as: a virtual account (the default), a group-managed service
account (DOMAIN\name$), or LocalSystem.
#>
[CmdletBinding()]
param(
    [string]$Relay,
    [string]$Token,
    [string]$CaFile,
    [switch]$AllowInsecure,
    [string]$From,
    [string]$Offline,
    [string]$PythonPackage,
    [string]$PythonVersion = '3.11.9',
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'Hatchway'),
    [string]$ProgramData = $env:ProgramData,
    [string]$Account = 'NT SERVICE\HatchwayAgent'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ServiceName = 'HatchwayAgent'

function Say([string]$Text) { Write-Host "install: $Text" }

function Invoke-Checked([string]$File, [string[]]$Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed (exit code $LASTEXITCODE)" }
}

# Checks first: nothing is touched until every argument is known to be usable.
$identity = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $identity.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script from an elevated PowerShell (Run as administrator).'
}
if ($Relay -and -not $Token) { throw '-Relay needs -Token.' }
if ($Token -and -not $Relay) { throw '-Token needs -Relay.' }
if ($CaFile -and -not (Test-Path -LiteralPath $CaFile -PathType Leaf)) { throw "-CaFile $CaFile does not exist." }
if ($Offline -and -not (Test-Path -LiteralPath $Offline -PathType Container)) { throw "-Offline $Offline is not a folder." }
if ($Offline -and -not $PythonPackage -and -not (Test-Path (Join-Path $InstallDir 'python\python.exe'))) {
    throw '-Offline needs -PythonPackage (python.<version>.nupkg) for a first installation.'
}
if ($From) {
    if (-not (Test-Path -LiteralPath $From)) { throw "-From $From does not exist." }
    $spec = (Resolve-Path -LiteralPath $From).Path
} elseif ($Offline) {
    $spec = 'hatchway'
} else {
    $checkout = Resolve-Path (Join-Path $PSScriptRoot '..\..')
    if (-not (Test-Path (Join-Path $checkout 'pyproject.toml'))) { throw 'Not inside a Hatchway checkout: give -From or -Offline.' }
    $spec = $checkout.Path
}

# A private interpreter, from the nuget.org package (a full Python that needs no installer).
$pythonDir = Join-Path $InstallDir 'python'
$python = Join-Path $pythonDir 'python.exe'
if (-not (Test-Path $python)) {
    $work = Join-Path ([IO.Path]::GetTempPath()) ("hatchway-python-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $work | Out-Null
    try {
        $zip = Join-Path $work 'python.zip'
        if ($PythonPackage) {
            Copy-Item -LiteralPath $PythonPackage -Destination $zip
        } else {
            Say "downloading Python $PythonVersion from nuget.org"
            Invoke-WebRequest -UseBasicParsing -Uri "https://www.nuget.org/api/v2/package/python/$PythonVersion" -OutFile $zip
        }
        Expand-Archive -LiteralPath $zip -DestinationPath (Join-Path $work 'package')
        New-Item -ItemType Directory -Force -Path $pythonDir | Out-Null
        Copy-Item -Recurse -Path (Join-Path $work 'package\tools\*') -Destination $pythonDir
    } finally {
        Remove-Item -Recurse -Force -LiteralPath $work
    }
    & $python -m pip --version *> $null
    if ($LASTEXITCODE -ne 0) { Invoke-Checked $python @('-m', 'ensurepip', '--upgrade') }
}

# An upgrade replaces the software under a stopped service.
$service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($service -and $service.Status -ne 'Stopped') {
    Say "stopping $ServiceName (batches in flight finish first)"
    Stop-Service -Name $ServiceName
}

Say "installing $spec"
$pip = @('-m', 'pip', 'install', '--upgrade', '--disable-pip-version-check', '--no-warn-script-location')
if ($Offline) { $pip += @('--no-index', '--find-links', (Resolve-Path -LiteralPath $Offline).Path) }
Invoke-Checked $python ($pip + @($spec))
$hatchway = Join-Path $pythonDir 'Scripts\hatchway.exe'
Invoke-Checked $hatchway @('--version')

$base = Join-Path $ProgramData 'Hatchway'
$configDir = Join-Path $base 'config'
$dataDir = Join-Path $base 'data'
if (-not $service) {
    # Creates the service, the ProgramData folders and their ACL, and the restart policy.
    Invoke-Checked $hatchway @('agent', 'service', 'install', '--account', $Account, '--program-data', $ProgramData)
}
# So 'hatchway agent status' and 'hatchway agent check' find the service's folders.
[Environment]::SetEnvironmentVariable('HATCHWAY_CONFIG_DIR', $configDir, 'Machine')
[Environment]::SetEnvironmentVariable('HATCHWAY_DATA_DIR', $dataDir, 'Machine')
$env:HATCHWAY_CONFIG_DIR = $configDir
$env:HATCHWAY_DATA_DIR = $dataDir

if ($Relay) {
    Say "registering the agent with $Relay"
    $register = @('agent', 'register', '--relay', $Relay, '--token', $Token, '--config-dir', $configDir, '--data-dir', $dataDir)
    if ($CaFile) { $register += @('--ca-file', (Resolve-Path -LiteralPath $CaFile).Path) }
    if ($AllowInsecure) { $register += '--allow-insecure' }
    Invoke-Checked $hatchway $register
}

if (Test-Path (Join-Path $configDir 'agent.toml')) {
    Invoke-Checked $hatchway @('agent', 'service', 'start')
    Say "done: the agent runs as the $ServiceName service"
} else {
    Say 'done; the agent is not registered yet: run this script again with -Relay and -Token'
}
