# Runs dtms next to the MetaTrader 5 terminal on Windows: waits for the terminal, starts dtms,
# and starts it again (after 30 s) whenever it ends with an error; a clean stop (exit 0) ends
# the loop. Registered by install-task.ps1 as a Task Scheduler task at log-on.
param(
    [string]$Dtms = "$PSScriptRoot\..\..\.venv\Scripts\dtms.exe",
    [string]$Config = "$PSScriptRoot\..\..\config.toml",
    [string]$WorkDir = "$PSScriptRoot\..\..",
    [string]$Terminal = "terminal64"
)
Set-Location $WorkDir
while ($true) {
    while (-not (Get-Process -Name $Terminal -ErrorAction SilentlyContinue)) {
        Write-Output "$(Get-Date -Format s) waiting for the MetaTrader 5 terminal ($Terminal.exe)"
        Start-Sleep -Seconds 15
    }
    Start-Sleep -Seconds 20   # let the terminal log in before dtms connects
    & $Dtms run --broker mt5 --config $Config
    if ($LASTEXITCODE -eq 0) { break }
    Write-Output "$(Get-Date -Format s) dtms ended with status $LASTEXITCODE; restarting in 30 s"
    Start-Sleep -Seconds 30
}
