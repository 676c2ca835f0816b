# Registers dtms as a Task Scheduler task of the current user: it starts at log-on (after a
# delay, so the terminal starts first), runs in the user's session (where the terminal runs),
# has no time limit, and is restarted by run-dtms.ps1 when it fails.
# Run in PowerShell from the dtms folder:  powershell -ExecutionPolicy Bypass -File deploy\windows\install-task.ps1
$script = Join-Path $PSScriptRoot "run-dtms.ps1"
$action = New-ScheduledTaskAction -Execute "powershell.exe" `
    -Argument "-NoProfile -ExecutionPolicy Bypass -WindowStyle Hidden -File `"$script`"" `
    -WorkingDirectory (Resolve-Path "$PSScriptRoot\..\..")
$trigger = New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME
$trigger.Delay = "PT1M"
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable
Register-ScheduledTask -TaskName "dtms" -Action $action -Trigger $trigger -Settings $settings `
    -Description "dtms defensive trade manager (next to the MetaTrader 5 terminal)" -Force
Write-Output "registered task 'dtms'; start it now with: Start-ScheduledTask -TaskName dtms"
