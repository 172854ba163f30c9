using System.Net.Mail;
using System.Text.RegularExpressions;
using QrFunctions.Scans;

namespace QrFunctions.Leads;

/// <summary>Reads and checks a lead form as the visitor sent it: the fields the code asks for, required ones filled, and consent given.</summary>
public static partial class LeadInputs
{
    public static (LeadInput? Input, Dictionary<string, string> Values, List<string> Errors) Read(LeadCaptureSettings form, Microsoft.AspNetCore.Http.IFormCollection posted, bool skipAsked)
    {
        var values = new Dictionary<string, string>();
        var errors = new List<string>();
        if (skipAsked) errors.Add("Please fill in the form to continue.");
        string Field(string name, string field, int max, string label)
        {
            var value = posted[name].ToString().Trim();
            if (!form.Fields.Contains(field)) return "";
            values[name] = value.Length <= max ? value : value[..max];
            if (value.Length == 0)
            {
                if (form.Required.Contains(field)) errors.Add($"{label} is required.");
                return "";
            }
            if (value.Length > max) errors.Add($"{label} must be at most {max} characters.");
            else if (value.Any(c => char.IsControl(c) && (field != "question" || c is not ('\r' or '\n' or '\t')))) errors.Add($"{label} contains characters that are not text.");
            return value;
        }
        var name = Field("name", "name", LeadCaptureSettings.MaxName, "Name");
        var email = Field("email", "email", LeadCaptureSettings.MaxEmail, "Email");
        var phone = Field("phone", "phone", LeadCaptureSettings.MaxPhone, "Phone");
        var answer = Field("answer", "question", LeadCaptureSettings.MaxAnswer, "Your answer");
        if (email.Length > 0 && !IsEmail(email)) errors.Add("Email is not a valid address.");
        if (phone.Length > 0 && (!PhonePattern().IsMatch(phone) || phone.Count(char.IsAsciiDigit) < 3)) errors.Add("Phone may hold only digits, spaces and + ( ) - . /");
        if (!skipAsked && posted["consent"] != "yes") errors.Add("Please agree to the terms to continue.");
        if (!skipAsked && name.Length + email.Length + phone.Length + answer.Length == 0 && errors.Count == 0) errors.Add("Please fill in the form to continue.");
        return (errors.Count == 0 ? new LeadInput(name, email, phone, answer) : null, values, errors);
    }

    /// <summary>One address, local@domain with a dot in the domain, as MailAddress parses it (no display name, no comments).</summary>
    public static bool IsEmail(string value) =>
        MailAddress.TryCreate(value, out var address) && address.Address == value && address.Host.Contains('.') && !address.Host.EndsWith('.');

    [GeneratedRegex(@"^\+?[0-9 ()./-]{3,32}$")]
    private static partial Regex PhonePattern();
}
