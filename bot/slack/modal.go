package slackfront

import (
	"encoding/json"
	"fmt"

	"github.com/slack-go/slack"

	"deploybot/bot"
	"deploybot/commands"
	"deploybot/deploy"
)

// The reason dialog's identifiers.
const (
	reasonCallbackID = "deploybot_reason"
	reasonBlockID    = "reason"
	reasonActionID   = "reason"
)

// reasonMeta is the dialog's private_metadata: the button it completes and
// the channel it was clicked in (a view submission carries no channel).
type reasonMeta struct {
	Button  string `json:"b"`
	Channel string `json:"c"`
}

func decodeReasonMeta(s string) (reasonMeta, bool) {
	var m reasonMeta
	if err := json.Unmarshal([]byte(s), &m); err != nil || m.Button == "" {
		return reasonMeta{}, false
	}
	if _, err := bot.ParseButtonID(m.Button); err != nil {
		return reasonMeta{}, false
	}
	return m, true
}

// reasonModal is the dialog that asks why before Skip, Rollback or starting
// outside a maintenance window. run is the run as this process knows it
// (nil when it does not: the dialog opens before any store call), for the
// step's title; without it the step is named by its id.
func reasonModal(act deploy.Action, buttonID, channel string, run *deploy.Run) slack.ModalViewRequest {
	meta, _ := json.Marshal(reasonMeta{Button: buttonID, Channel: channel})
	title, submit, intro := "Give a reason", "Submit", ""
	switch act.Kind {
	case deploy.ActSkip:
		title, submit = "Skip a step", "Skip"
		intro = fmt.Sprintf("Why skip %s of run `%s`? The reason shows on the phase card and in the completion notice.", stepName(run, act, "step"), esc(act.RunID, 100))
	case deploy.ActRollback:
		title, submit = "Roll back", "Roll back"
		intro = fmt.Sprintf("Why roll back run `%s`? The rollback procedure starts at once, and the rollback notice quotes your reason.", esc(act.RunID, 100))
	case deploy.ActAbort:
		title, submit = "Abort the run", "Abort"
		intro = fmt.Sprintf("Why abort run `%s`? Nothing was deployed yet; the abort notice quotes your reason.", esc(act.RunID, 100))
	case deploy.ActEndWatch:
		title, submit = "End the watch early", "End watch"
		intro = fmt.Sprintf("Why end %s of run `%s` early? The step shows it was ended early, by you, with your reason.", stepName(run, act, "watch"), esc(act.RunID, 100))
	case deploy.ActOverrideWindow:
		title, submit = "Start outside window", "Start now"
		intro = fmt.Sprintf("Why start phase `%s` of run `%s` outside a maintenance window? Your reason goes in the audit log.", esc(act.Phase, 100), esc(act.RunID, 100))
	}
	input := slack.NewPlainTextInputBlockElement(plain("What happened, what you checked…", maxPlaceholder), reasonActionID)
	input.Multiline = true
	input.MaxLength = commands.MaxReasonLength
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      reasonCallbackID,
		Title:           plain(title, 24),
		Submit:          plain(submit, 24),
		Close:           plain("Cancel", 24),
		PrivateMetadata: string(meta),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(intro),
			slack.NewInputBlock(reasonBlockID, plain("Reason", 2000), nil, input),
		}},
	}
}

// stepName names the action's step in the dialog: its title in quotes when
// run has it ("“Code review”"), else kind and id ("step `review`").
func stepName(run *deploy.Run, act deploy.Action, kind string) string {
	if run != nil && run.ID == act.RunID {
		if i := run.FindPhase(act.Phase); i >= 0 {
			for j, s := range run.PhaseDef(i).Steps {
				if s.ID == act.Step {
					if title := run.StepTitle(i, j); title != "" {
						return "“" + esc(title, 150) + "”"
					}
				}
			}
		}
	}
	return kind + " `" + esc(act.Step, 100) + "`"
}
